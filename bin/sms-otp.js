#!/usr/bin/env node
// In a checkout (src/ present) runs the TypeScript source through tsx, so a dist/ left by
// `prepare` can never run stale code; in the installed package (dist/ only) the compiled CLI.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
const source = new URL('../src/cli/main.ts', import.meta.url)
if (existsSync(fileURLToPath(source))) {
  await import('tsx/esm')
  await import(source.href)
} else await import(new URL('../dist/src/cli/main.js', import.meta.url).href)
