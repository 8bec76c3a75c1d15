/**
 * The clock the sidecar and its watchdog share: the system's monotonic clock
 * (`process.hrtime`, CLOCK_MONOTONIC on Linux, the same for every process of a machine), in ms.
 * The sidecar sends the watchdog the moment its lease ends on this clock rather than a duration:
 * a duration read before a freeze and written after it would stretch the lease by the freeze.
 */
import { performance } from 'node:perf_hooks';

/** Now, on the shared clock. */
export function sharedNow(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

/** A time of this process's `performance.now()`, on the shared clock. */
export function onSharedClock(performanceTime: number): number {
  return sharedNow() + (performanceTime - performance.now());
}
