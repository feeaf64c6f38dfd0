// @ts-check
import js from '@eslint/js'
import globals from 'globals'
import tseslint from 'typescript-eslint'

/** Provider class folders under src/providers/: each one imports only shared provider modules and net/. */
const CLASSES = ['http', 'rest', 'smtp', 'smpp', 'device']
const classAlt = CLASSES.join('|')

/** The core never loads a framework or a face (DESIGN.md: dependencies flow one way). */
const express = { name: 'express', message: 'the core is framework-free: only src/sidecar, src/cli, middleware/ and strategies/ may import express' }
const faces = {
  regex: '(^|/)(middleware|strategies|sidecar)(/|$)',
  message: 'the core never imports a face (middleware/, strategies/, src/sidecar): they import the core',
}
/** Outside src/providers, a provider class is reached through its folder's index only. */
const classInternals = {
  regex: `(^|/)providers/(${classAlt})/(?!index\\.js$)`,
  message: 'import a provider class from its folder index (providers/<class>/index.js); the rest of the folder is private',
}

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', 'data/', 'coverage/', '.tmp/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
    },
  },
  {
    files: ['src/**/*.ts'],
    ignores: ['src/sidecar/**', 'src/cli/**', 'src/providers/**'],
    rules: { 'no-restricted-imports': ['error', { paths: [express], patterns: [faces, classInternals] }] },
  },
  {
    // The shared provider modules and the network folder serve every class and know none of them.
    files: ['src/providers/*.ts', 'src/providers/net/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [express],
        patterns: [faces, { regex: `^\\.\\.?/(${classAlt})(/|$)`, message: 'shared provider modules and net/ never import a provider class folder' }],
      }],
    },
  },
  {
    // A provider class folder never imports another one.
    files: CLASSES.map((c) => `src/providers/${c}/**/*.ts`),
    rules: {
      'no-restricted-imports': ['error', {
        paths: [express],
        patterns: [faces, { regex: `^\\.\\./(${classAlt})(/|$)|(^|/)providers/(${classAlt})/`, message: 'a provider folder imports only the shared provider modules (../x.js) and ../net/, never another provider folder' }],
      }],
    },
  },
  {
    // sms-otp/passport: the app brings passport and Express; the strategy only names their types.
    files: ['strategies/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: ['express', 'passport', 'express-session'].map((name) => ({ name, allowTypeImports: true, message: 'strategies/ imports frameworks as types only (import type): the app brings its own' })),
      }],
    },
  },
)
