// Every workflow type the `releng` worker registers (its workflowsPath points here).
export * from './discover-compose.js';
export * from './gate-build.js';
