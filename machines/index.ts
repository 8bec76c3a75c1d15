/** machines/: the pure core. Protocol, election rule, node and relay statecharts. */
export * from './protocol.js';
export * from './election.js';
export * from './ring.js';
export * from './memberList.js';
export * from './random.js';
export * from './nodeMachine.js';
export * from './relayMachine.js';
export * from './observerMachine.js';
export * from './lease.js';
