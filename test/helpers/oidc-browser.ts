/**
 * What the two OpenID Connect example suites share: a wrong code that is certainly wrong,
 * screenshots into test-output/, and cookie reading.
 */
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { BrowserContext, Page } from 'playwright-core'
import { root } from './example-process.js'

/** A code of the same length that differs from `right` in every digit. */
export function wrongCode(right: string): string {
  return [...right].map((d) => String((Number(d) + 5) % 10)).join('')
}

/** Writes a full-page screenshot to `test-output/<name>.png` (the directory is created). */
export async function screenshot(page: Page, name: string): Promise<string> {
  const dir = join(root, 'test-output')
  await mkdir(dir, { recursive: true })
  const path = join(dir, `${name}.png`)
  await page.screenshot({ path, fullPage: true })
  return path
}

/** The value of a cookie of the context, by name (undefined when not set). */
export async function cookieValue(context: BrowserContext, name: string): Promise<string | undefined> {
  return (await context.cookies()).find((c) => c.name === name)?.value
}
