/**
 * `--json` on the commands that act rather than list: `serve` prints one line with where it
 * listens, `key rotate` its report (never the key).
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { once } from 'node:events'
import { describe, it } from 'node:test'
import { ROOT, cli, tempDirs } from './helpers/cli.js'

const tempDir = tempDirs('cli-json')

describe('--json on serve and key rotate', () => {
  it('serve --json prints one JSON line with its URLs; key rotate --json reports counts and the file, not the key', async () => {
    const dataDir = join(await tempDir(), 'data')
    const { SMS_OTP_ENC_KEY: _k, SMS_OTP_ADMIN_TOKEN: _t, ...env } = process.env
    const child = spawn(process.execPath, [join(ROOT, 'bin/sms-otp.js'), 'serve', '--demo', '--port', '0', '--data-dir', dataDir, '--json'], { env: { ...env, LOG_LEVEL: 'silent' }, stdio: ['ignore', 'pipe', 'inherit'] })
    let out = ''
    const first = await new Promise<string>((ok, fail) => {
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString()
        const line = out.split('\n').find((l) => l.startsWith('{'))
        if (line) ok(line)
      })
      child.once('exit', (code) => fail(new Error(`serve exited with ${code}: ${out}`)))
    })
    const info = JSON.parse(first) as { listening: string; admin: string | null; metrics: string | null; adminApi: boolean; adminToken?: string }
    assert.match(info.listening, /^http:\/\/127\.0\.0\.1:\d+$/)
    assert.equal(info.admin, null)
    assert.equal(info.adminApi, true)
    assert.equal(typeof info.adminToken, 'string', 'the generated demo token is shown once, as in text mode')
    assert.equal((await fetch(`${info.listening}/healthz`)).status, 200)
    assert.ok(!out.includes('listening on'), 'no text lines in JSON mode')
    child.kill('SIGTERM')
    await once(child, 'exit')

    const rotated = await cli(['key', 'rotate', '--data-dir', dataDir, '--json'])
    assert.equal(rotated.code, 0, rotated.stderr)
    const report = JSON.parse(rotated.stdout) as { rotated: boolean; seeds: number; keyFile: string; fromEnv: boolean }
    assert.equal(report.rotated, true)
    assert.ok(report.seeds >= 1)
    assert.equal(report.fromEnv, false)
    const key = (await readFile(report.keyFile, 'utf8')).trim()
    assert.ok(key.length > 0 && !rotated.stdout.includes(key), 'the new key is not printed')
  })
})
