/**
 * One provided machine per process, whatever the number of actors built from it.
 *
 * Why: `machine.provide(...)` builds a whole new machine (its state nodes, transitions and
 * action closures): about 32 KB of heap each for the node machine. A process that hosts many
 * members (a library user's in-process ring, the simulator) paid that once per member just to
 * hand each its own `relayConnection`.
 *
 * How: the machine is provided once with a connection that looks up, by the actor system it
 * runs in, the callback of the actor it belongs to. Every actor made with `createActor` has a
 * system of its own (its invoked children share it), so `bind(actor, callback)` before
 * `actor.start()` gives each actor its own connection, exactly as a per-actor `provide` did.
 */
import { fromCallback, type AnyActorRef, type AnyEventObject, type CallbackLogicFunction, type EventObject } from 'xstate';

export interface ConnectionSlot<TCommand extends EventObject> {
  /** The logic to provide as the machine's connection, once per process. */
  readonly logic: ReturnType<typeof fromCallback<TCommand>>;
  /** Gives `actor` (not started yet) its own connection. */
  bind(actor: AnyActorRef, callback: CallbackLogicFunction<TCommand, AnyEventObject>): void;
}

export function connectionSlot<TCommand extends EventObject>(): ConnectionSlot<TCommand> {
  const callbacks = new WeakMap<AnyActorRef['system'], CallbackLogicFunction<TCommand, AnyEventObject>>();
  return {
    logic: fromCallback<TCommand>((params) => {
      const callback = callbacks.get(params.system);
      if (callback === undefined) throw new Error('this actor was started without a connection: bind(actor, callback) before actor.start()');
      return callback(params);
    }),
    bind(actor, callback) {
      callbacks.set(actor.system, callback);
    },
  };
}
