// Every workflow type the workers register (their workflowsPath points here): the `releng` worker
// runs them all; image workers run the image tests routed to their queue. Signals, queries and
// updates are in ./api (pure definitions, for clients); they are exported here too.
export * from './api/index.js';
export * from './bodhi-push.js';
export * from './compose-test.js';
export * from './discover-compose.js';
export * from './gate-build.js';
export * from './image-test.js';
export * from './ostree-maintenance.js';
export * from './push.js';
export * from './release-branch.js';
export * from './release-eol.js';
export * from './two-week.js';
