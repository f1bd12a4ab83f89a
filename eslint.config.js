// Lint guards what the compiler does not: promises nobody awaits, and code that must not reach the
// Temporal workflow sandbox or ssh2. The rule set is kept to bug catchers, not style (prettier owns
// layout). Typed rules read tsconfig.json through the project service.
import { builtinModules } from 'node:module';
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

const tsFiles = ['**/*.ts', '**/*.cts'];

// Files the workflow bundle pulls in (check: grep '"./dist/src/' dist/workflow-bundle.js). They run
// in Temporal's deterministic sandbox: no I/O, no Node builtins, and activities only as types for
// proxyActivities<typeof ...>().
const sandboxFiles = ['src/workflows/**/*.ts', 'src/shared.ts', 'src/messages.ts', 'src/cluster/fanoutPlan.ts', 'src/temporal/failureConverter.cts'];

const ssh2Ban = {
  name: 'ssh2',
  message: 'Only src/ssh/ talks to ssh2; go through its connection pool.',
};

export default defineConfig(
  { ignores: ['dist/**', 'node_modules/**', '.tools/**', '.state/**', 'test/fixtures/**'] },

  js.configs.recommended,
  {
    rules: {
      // Matching control characters is the point of those regexes (command and path validation,
      // shell quoting, ANSI checks in tests).
      'no-control-regex': 'off',
      // A `let` read by a cleanup closure before its one assignment cannot become a const.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
    },
  },

  {
    files: tsFiles,
    extends: [tseslint.configs.recommended],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // Style, not bugs: an explicit `any` is a visible choice; `let s = this` walks scope chains.
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-this-alias': 'off',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],

      // Typed bug catchers.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          // node:test's test()/describe() return promises the runner itself tracks.
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] },
          ],
        },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/return-await': ['error', 'error-handling-correctness-only'],
      '@typescript-eslint/no-for-in-array': 'error',
      '@typescript-eslint/no-implied-eval': 'error',
      '@typescript-eslint/no-array-delete': 'error',
    },
  },

  // ssh2 stays behind src/ssh/. test/ keeps it: fakeNodes runs a real ssh2.Server, the layer below
  // the sshd end-to-end tests. bench/ has no need of it.
  {
    files: ['src/**/*.ts', 'src/**/*.cts', 'bench/**/*.ts'],
    ignores: ['src/ssh/**'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', { paths: [ssh2Ban] }],
    },
  },

  // The workflow sandbox (this block replaces the ssh2-only options above for these files).
  {
    files: sandboxFiles,
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          paths: [
            ssh2Ban,
            ...builtinModules.map((name) => ({ name, message: 'Workflow code runs in the deterministic sandbox: no Node builtins; do I/O in an activity.' })),
            ...['@temporalio/activity', '@temporalio/client', '@temporalio/worker', '@temporalio/testing'].map((name) => ({
              name,
              message: 'Workflow code imports @temporalio/workflow (and @temporalio/common), not the worker, client or activity SDKs.',
            })),
          ],
          patterns: [
            { regex: '^node:', message: 'Workflow code runs in the deterministic sandbox: no Node builtins; do I/O in an activity.' },
            {
              regex: '(^|/)activities(/|\\.js$|$)',
              allowTypeImports: true,
              message: 'Workflows reach activities through proxyActivities: import them with `import type` only.',
            },
          ],
        },
      ],
    },
  },
);
