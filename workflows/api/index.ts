// Signals, queries and updates of every workflow, in modules with no workflow code: clients,
// the bus and activities import them from here, never from a workflow file.
export * from './compose-test.js';
export * from './discover-compose.js';
export * from './gate-build.js';
export * from './image-test.js';
export * from './operator.js';
export * from './ostree.js';
export * from './push.js';
export * from './release.js';
export * from './two-week.js';
export * from './waiting.js';
