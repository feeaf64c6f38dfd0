// @ts-check
import js from '@eslint/js'
import globals from 'globals'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'data/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-imports': ['error', { paths: [{ name: 'express', message: 'only src/sidecar, src/cli, middleware/ and strategies/ may import express' }] }],
    },
  },
  {
    files: ['src/sidecar/**', 'src/cli/**', 'middleware/**', 'strategies/**', 'test/**', 'examples/**', 'bench/**'],
    rules: { 'no-restricted-imports': 'off' },
  },
)
