// Lint runs inside `npm test`; type errors are tsc's job, this catches the rest.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import { layersPlugin } from './eslint-layers.js';

export default tseslint.config(
  { ignores: ['node_modules/**', 'data/**', '.bench/**', 'loadtest/*.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', setImmediate: 'readonly', Buffer: 'readonly', URL: 'readonly', AbortController: 'readonly', performance: 'readonly', queueMicrotask: 'readonly', structuredClone: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly', fetch: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
      'no-control-regex': 'off',
    },
  },
  { files: ['nodes/src/**/*.ts'], plugins: { layers: layersPlugin }, rules: { 'layers/imports-point-down': 'error' } },
  // The control plane reaches the node only through its package exports (nodes/package.json).
  { files: ['control/**/*.ts'], rules: { 'no-restricted-imports': ['error', { patterns: [{ regex: '(^|/)nodes/src(/|$)', message: 'use the @gatehouse/node exports (nodes/package.json), never nodes/src' }] }] } },
);
