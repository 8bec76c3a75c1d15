/** sim/: the deterministic simulator, for tests, benchmarks and `npm run sim`. */
export { runSimulation, reproduceCommand, type FailoverRecord, type SimulationOptions, type SimulationSummary } from './simulation.js';
export { FAULT_KINDS, FAULT_HELP, parseFaultList, type FaultKind } from './faults.js';
export { highestCandidate, type Violation, type PropertyName } from './properties.js';
