// @ts-check
import eslint from '@eslint/js';
import { builtinModules } from 'node:module';
import tseslint from 'typescript-eslint';

// Workflow code runs inside Temporal's deterministic sandbox: no Node built-ins, no I/O clients.
const forbiddenInWorkflows = [
  ...builtinModules.filter((m) => m !== 'assert' && !m.startsWith('_')),
  ...builtinModules.map((m) => `node:${m}`),
  'pg',
  'undici',
  'zeromq',
  'pino',
  '@temporalio/activity',
  '@temporalio/client',
  '@temporalio/worker',
];

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'scripts/*.mjs'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/explicit-module-boundary-types': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      // The TypeScript rule, for allowTypeImports: activities run outside the workflow sandbox, so a
      // workflow may name their types but never load their code (test/lint-rules.test.ts proves it fires).
      'no-restricted-imports': 'off',
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: forbiddenInWorkflows.map((name) => ({
            name,
            message: 'Workflows are deterministic orchestration: put I/O in activities/.',
          })),
          patterns: [{ regex: '(^|/)activities(/|$)', allowTypeImports: true, message: 'Import activities as types only (import type ...): their code runs on workers, outside the workflow sandbox.' }],
        },
      ],
    },
  },
  {
    // node:test's describe/it return promises the runner awaits; tests inspect untyped JSON on purpose.
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-floating-promises': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  { files: ['eslint.config.js'], ...tseslint.configs.disableTypeChecked },
);
