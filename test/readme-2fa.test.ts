/**
 * The README's "Add SMS 2FA to your Express app" snippet, read from README.md itself, type-checked
 * with tsc and run as an app (tsx, its own process) in a temporary directory with the example's
 * users.json: alice signs in with password and SMS code, the password alone does not reach
 * /profile, the session id changes with the second factor, bob is enrolled on first login.
 */
import assert from 'node:assert/strict'
import { spawn, execFile, type ChildProcess } from 'node:child_process'
import { copyFile, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { promisify } from 'node:util'
import { after, before, describe, it } from 'node:test'
import { freePort, root } from './helpers/example-process.js'
import { formClient } from './helpers/form-client.js'

const HEADING = '## Add SMS 2FA to your Express app'

/** The first ```ts block under the heading in README.md. */
async function snippet(): Promise<string> {
  const readme = await readFile(join(root, 'README.md'), 'utf8')
  assert.ok(readme.includes(`\n${HEADING}\n`), `README.md has the section "${HEADING}"`)
  const section = readme.slice(readme.indexOf(HEADING))
  const next = section.indexOf('\n## ', HEADING.length)
  const code = /```ts\n([\s\S]*?)```/.exec(next === -1 ? section : section.slice(0, next))?.[1]
  assert.ok(code, `a \`\`\`ts block under "${HEADING}"`)
  return code
}

interface SmsLine { phone: string; otp: string }

describe('README: Add SMS 2FA to your Express app', { timeout: 180_000 }, () => {
  let code = ''
  let work = ''
  let dir = ''
  let url = ''
  let child: ChildProcess | undefined
  let out = ''
  const outbox = async (): Promise<SmsLine[]> => {
    const file = join(dir, 'data', 'sms-outbox.log')
    if (!existsSync(file)) return []
    return (await readFile(file, 'utf8')).split('\n').filter((l) => l !== '').map((l) => {
      const i = l.lastIndexOf(':')
      return { phone: l.slice(0, i), otp: l.slice(i + 1) }
    })
  }
  const nextSms = async (phone: string, after: number): Promise<string> => {
    for (let i = 0; i < 100; i++) {
      const hit = (await outbox()).slice(after).find((m) => m.phone === phone)
      if (hit) return hit.otp
      await new Promise((r) => setTimeout(r, 100))
    }
    throw new Error(`no SMS to ${phone}\n${out}`)
  }

  before(async () => {
    code = await snippet()
    // Inside the checkout (test-output/ is not committed) so that express, passport … resolve from
    // its node_modules; the app's own files (./data, ./users.json) go to a temporary directory.
    await mkdir(join(root, 'test-output'), { recursive: true })
    work = await mkdtemp(join(root, 'test-output', 'readme-2fa-'))
    dir = await mkdtemp(join(tmpdir(), 'sms-otp-readme-2fa-'))
    await copyFile(join(root, 'examples', 'express-passport', 'users.json'), join(dir, 'users.json'))
  })
  after(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child?.once('exit', r))
      child.kill('SIGTERM')
      await exited
    }
    await rm(work, { recursive: true, force: true })
    await rm(dir, { recursive: true, force: true })
  })

  it('type-checks as written (the package names mapped to this checkout)', async () => {
    await writeFile(join(work, 'app.mts'), code)
    await writeFile(join(work, 'tsconfig.json'), JSON.stringify({
      extends: '../../tsconfig.json',
      compilerOptions: {
        noEmit: true,
        rootDir: '../..',
        paths: { 'sms-otp': ['../../src/index.ts'], 'sms-otp/passport': ['../../strategies/index.ts'] },
      },
      include: ['app.mts'],
    }))
    const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc')
    const run = await promisify(execFile)(process.execPath, [tsc, '-p', join(work, 'tsconfig.json')], { cwd: work }).then(() => '', (err: { stdout?: string }) => err.stdout ?? String(err))
    assert.equal(run, '', run)
  })

  it('runs: alice signs in with password and SMS code; the password alone is refused; new session id', async () => {
    const port = await freePort()
    assert.ok(code.includes('app.listen(3000'), 'the snippet listens on 3000')
    const runnable = code
      .replaceAll("from 'sms-otp'", `from '${pathToFileURL(join(root, 'src', 'index.ts')).href}'`)
      .replaceAll("from 'sms-otp/passport'", `from '${pathToFileURL(join(root, 'strategies', 'index.ts')).href}'`)
      .replace('app.listen(3000', `app.listen(${port}`)
    await writeFile(join(work, 'run.mts'), runnable)
    child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), join(work, 'run.mts')], { cwd: dir, env: { ...process.env, SESSION_SECRET: 'readme-test-secret' }, stdio: ['ignore', 'pipe', 'pipe'] })
    child.stdout?.on('data', (c: Buffer) => (out += c.toString()))
    child.stderr?.on('data', (c: Buffer) => (out += c.toString()))
    url = `http://127.0.0.1:${port}`
    for (let i = 0; ; i++) {
      assert.equal(child.exitCode, null, `the snippet exited:\n${out}`)
      if (await fetch(`${url}/profile`).then(() => true, () => false)) break
      assert.ok(i < 300, `the snippet did not listen within 60 s:\n${out}`)
      await new Promise((r) => setTimeout(r, 200))
    }

    const b = formClient(url)
    const wrong = await b.post('/login', { username: 'alice', password: 'guess' })
    assert.equal(wrong.status, 401)
    assert.equal((await outbox()).length, 0, 'a wrong password sends nothing')

    const login = await b.post('/login', { username: 'alice', password: 'alice-password' })
    assert.equal(login.status, 200, login.text)
    const info = JSON.parse(login.text) as { challenge?: { maskedPhone?: string; resendInSeconds?: number } }
    assert.match(info.challenge?.maskedPhone ?? '', /^\+49\*+5678$/)
    assert.equal(typeof info.challenge?.resendInSeconds, 'number')
    const halfway = b.cookie('connect.sid')
    assert.equal((await b.get('/profile')).status, 401, 'the password alone is not enough')
    const otp = await nextSms('+4915112345678', 0)

    assert.equal((await b.post('/otp', { otp: '000000' === otp ? '111111' : '000000' })).status, 401, 'a wrong code')
    const done = await b.post('/otp', { otp })
    assert.equal(done.status, 200, done.text)
    assert.notEqual(b.cookie('connect.sid'), halfway, 'the second factor regenerates the session')
    assert.deepEqual(JSON.parse((await b.get('/profile')).text), { user: 'alice' })
  })

  it('runs: bob, who has no token, is enrolled on his first login', async () => {
    const b = formClient(url)
    const seen = (await outbox()).length
    assert.equal((await b.post('/login', { username: 'bob', password: 'bob-password' })).status, 200)
    const otp = await nextSms('+4915187654321', seen)
    assert.equal((await b.post('/otp', { otp })).status, 200)
    assert.deepEqual(JSON.parse((await b.get('/profile')).text), { user: 'bob' })
  })
})
