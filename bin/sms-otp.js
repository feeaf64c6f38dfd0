#!/usr/bin/env node
// Runs the compiled CLI when built, else the TypeScript source through tsx.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
const built = fileURLToPath(new URL('../dist/src/cli/main.js', import.meta.url))
if (existsSync(built)) await import(built)
else {
  await import('tsx/esm')
  await import(new URL('../src/cli/main.ts', import.meta.url).href)
}
