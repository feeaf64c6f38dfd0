/**
 * Headless Chromium for end-to-end tests: Debian's `chromium` driven by playwright-core (no
 * browser download). Flags as the machine needs them: no sandbox (root), no background networking
 * (the machine's closed network refuses it). playwright gives every launch a fresh temporary
 * profile and removes it on close.
 */
import { existsSync } from 'node:fs'
import { chromium, type Browser } from 'playwright-core'

/** Where Debian installs Chromium; `CHROMIUM_PATH` overrides. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/** True when a Chromium binary is there (CI installs it; `.ci/run`). */
export function hasChromium(): boolean {
  return existsSync(CHROMIUM)
}

/** Skip reason for browser suites: only outside CI, where a missing Chromium is a failure. */
export const chromiumSkip: string | false = !hasChromium() && process.env.CI !== 'true' ? `no Chromium at ${CHROMIUM} (apt-get install chromium)` : false

/** Launches headless Chromium; `dispose()` closes it (and never throws). */
export async function launchBrowser(): Promise<Browser & { dispose(): Promise<void> }> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  })
  return Object.assign(browser, {
    async dispose(): Promise<void> {
      await browser.close().catch(() => undefined)
    },
  })
}
