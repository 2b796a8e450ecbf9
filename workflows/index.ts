// Every workflow type the workers register (their workflowsPath points here): the `releng` worker
// runs them all; image workers run the image tests routed to their queue.
export * from './discover-compose.js';
export * from './gate-build.js';
export * from './compose-test.js';
export * from './image-test.js';
export * from './push.js';
export * from './operator-gate.js';
