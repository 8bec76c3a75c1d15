import { describe, expect, it } from 'vitest';
import { assign, createActor, setup } from 'xstate';
import { connectionSlot } from '../node/sharedMachine.js';

type Command = { type: 'say'; text: string };

/** A machine that invokes `link` and keeps what it sends back: the shape of the node machine's relay. */
function linkedMachine(slot: ReturnType<typeof connectionSlot<Command>>) {
  return setup({
    types: { context: {} as { heard: string | null }, events: {} as { type: 'heard'; text: string } },
    actors: { link: slot.logic },
  }).createMachine({
    context: { heard: null },
    invoke: { id: 'link', src: 'link' },
    on: { heard: { actions: assign({ heard: ({ event }) => event.text }) } },
  });
}

describe('connectionSlot: one provided machine, a connection per actor', () => {
  it('gives each actor the connection it was bound to, and only that one', () => {
    const slot = connectionSlot<Command>();
    const machine = linkedMachine(slot);
    const heard: string[] = [];
    const stopped: string[] = [];
    const actors = ['a', 'b'].map((name) => {
      const actor = createActor(machine);
      slot.bind(actor, ({ sendBack }) => {
        heard.push(name);
        sendBack({ type: 'heard', text: name });
        return () => stopped.push(name);
      });
      return actor;
    });
    actors[1]!.start();
    expect(heard).toEqual(['b']);
    actors[0]!.start();
    expect(heard).toEqual(['b', 'a']);
    expect(actors.map((actor) => actor.getSnapshot().context.heard)).toEqual(['a', 'b']);
    actors[0]!.stop();
    expect(stopped).toEqual(['a']);
    actors[1]!.stop();
    expect(stopped).toEqual(['a', 'b']);
  });

  it('says so when an actor was started without a connection', () => {
    const slot = connectionSlot<Command>();
    const actor = createActor(linkedMachine(slot));
    const errors: unknown[] = [];
    actor.subscribe({ error: (error) => errors.push(error) });
    actor.start();
    expect(String(errors[0])).toMatch(/started without a connection/);
  });
});
