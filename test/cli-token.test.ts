/**
 * `sms-otp token …` as a user runs it: the real CLI in a child process, on a data directory made
 * by a first `serve` (database + key file), and through `--url` against a running `sms-otp serve`.
 */
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { silentLogger } from '../src/logger.js'
import { serve } from '../src/sidecar/serve.js'
import { validateCsv } from '../src/cli/commands/token.js'
import { parseCsv } from '../src/cli/csv.js'
import { Progress } from '../src/cli/progress.js'
import { startServeProcess } from './helpers/serve-process.js'
import { cli, cliTty, tempDirs } from './helpers/cli.js'

const tempDir = tempDirs('cli-token')

const ADMIN_TOKEN = 'cli-token-test-admin-token-0123'
const SECRET_PIN = 'Pin-7a1c9e'
const SECRET_KEY = '3132333435363738393031323334353637383930'

/** A data directory with realms example and other, and alice's token (LSSM0001), made by a first start. */
async function installed(): Promise<{ root: string; dataDir: string; configFile: string }> {
  const dir = await tempDir()
  const dataDir = join(dir, 'data')
  const configFile = join(dir, 'sms-otp.json')
  await writeFile(configFile, JSON.stringify({
    realms: [{ name: 'example', default: true }, { name: 'other' }],
    providers: [{ name: 'outbox', class: 'FileSMSProvider', config: { file: 'sms-outbox.log', here: dataDir, append: true }, timeout: 120, default: true }],
    tokens: [{ serial: 'LSSM0001', user: 'alice', realm: 'example', phone: '+4915112345678', pin: '1234' }],
  }))
  const running = await serve({ port: 0, host: '127.0.0.1', logger: silentLogger, env: {}, dataDir, configFile })
  await running.close()
  return { root: dir, dataDir, configFile }
}

/** Carriage return + "erase line": how the progress line is redrawn on a terminal. */
const REDRAW = '\r\x1b[2K'

const phoneOf = (i: number) => `+4915${String(100000000 + i)}`

/** 5,000 rows: row i is user u<i>; three of them broken (lines 18, 2501, 4999). */
function bigCsv(): { text: string; badLines: number[] } {
  const lines = ['user,phone,realm,pin']
  for (let i = 1; i <= 5000; i++) lines.push(`u${i},${phoneOf(i)},example,${i % 2 ? SECRET_PIN : ''}`)
  lines[17] = 'u17,+49 15x 1234,example,' // line 18: bad phone
  lines[2500] = 'u2500,+4915112340000,nowhere,' // line 2501: unknown realm
  lines[4998] = 'u12,+4915112340001,example,' // line 4999: duplicate user of line 13
  return { text: `${lines.join('\n')}\n`, badLines: [18, 2501, 4999] }
}

describe('token enroll --csv: 5,000 users, 3 bad rows', () => {
  let dataDir: string
  let csv: string
  const { text, badLines } = bigCsv()
  before(async () => {
    const inst = await installed()
    dataDir = inst.dataDir
    csv = join(inst.root, 'users.csv')
    await writeFile(csv, text)
  })

  it('--dry-run reports the bad rows by line and writes nothing', async () => {
    const run = await cli(['token', 'enroll', '--csv', csv, '--data-dir', dataDir, '--dry-run', '--json'])
    assert.equal(run.code, 1, run.stderr)
    const report = JSON.parse(run.stdout) as { dryRun: boolean; rows: number; valid: number; invalid: Array<{ line: number; errors: string[] }>; wouldEnroll: Array<{ phone: string }> }
    assert.equal(report.dryRun, true)
    assert.equal(report.rows, 5000)
    assert.equal(report.valid, 4997)
    assert.deepEqual(report.invalid.map((b) => b.line), badLines)
    assert.equal(report.wouldEnroll.length, 4997)
    assert.match(run.stderr, /^line 18: phone: /m)
    assert.match(run.stderr, /^line 2501: realm: 'nowhere' does not exist$/m)
    assert.match(run.stderr, /^line 4999: user: 'u12' in realm 'example' repeats line 13$/m)
    assert.ok(!run.stdout.includes(phoneOf(1)) && !run.stderr.includes(phoneOf(1)), 'no full phone number')
    assert.ok(!run.stdout.includes(SECRET_PIN) && !run.stderr.includes(SECRET_PIN), 'no PIN')
    const list = await cli(['token', 'list', '--data-dir', dataDir, '--json'])
    assert.equal(list.code, 0, list.stderr)
    assert.equal((JSON.parse(list.stdout) as { total: number }).total, 1, 'only alice: nothing was written')
  })

  it('enrolls the 4,997 good rows with plain progress lines when stderr is a pipe; a second run skips them all', async () => {
    const run = await cli(['token', 'enroll', '--csv', csv, '--data-dir', dataDir])
    assert.equal(run.code, 1, 'bad rows make the exit code non-zero')
    assert.match(run.stdout, /5000 row\(s\): 4997 valid, 3 invalid/)
    assert.match(run.stdout, /enrolled 4997, skipped 0/)
    const progress = run.stderr.split('\n').filter((l) => l.startsWith('enrolled '))
    assert.ok(progress.length >= 9 && progress.length <= 11, `about one line per 10 %: ${progress.length}`)
    for (const l of progress) assert.match(l, /^enrolled \d+\/4997 \(\d+%\), \d+\/s, ETA (\d+[smh]\S*|\?)$/)
    assert.equal(progress.at(-1)?.startsWith('enrolled 4997/4997 (100%)'), true)
    assert.ok(!run.stderr.includes('\r'), 'no carriage returns in a pipe')
    assert.ok(!run.stderr.includes(SECRET_PIN) && !run.stderr.includes(phoneOf(1)))

    const list = await cli(['token', 'list', '--data-dir', dataDir, '--json', '--limit', '2'])
    const listed = JSON.parse(list.stdout) as { total: number; tokens: Array<{ phone: string }> }
    assert.equal(listed.total, 4998)
    assert.ok(listed.tokens.every((t) => t.phone.includes('*')), 'phones masked')

    const again = await cli(['token', 'enroll', '--csv', csv, '--data-dir', dataDir, '--json'])
    const report = JSON.parse(again.stdout) as { enrolled: number; skipped: unknown[] }
    assert.equal(report.enrolled, 0)
    assert.equal(report.skipped.length, 4997)
    assert.equal((JSON.parse((await cli(['token', 'list', '--data-dir', dataDir, '--json', '--limit', '1'])).stdout) as { total: number }).total, 4998)
  })

  it('on a terminal, one line is redrawn with a bar, count, percentage, rate and ETA', async () => {
    const dir = await tempDir()
    const small = join(dir, 'more.csv')
    const lines = ['user,phone,realm']
    for (let i = 1; i <= 300; i++) lines.push(`tty${i},${phoneOf(10000 + i)},other`)
    await writeFile(small, lines.join('\r\n'))
    const run = await cliTty(['token', 'enroll', '--csv', small, '--data-dir', dataDir])
    assert.equal(run.code, 0, run.stdout)
    assert.match(run.stdout.replaceAll(REDRAW, '<redraw>'), /<redraw>\[#{24}\] enrolled 300\/300 \(100%\), \d+\/s, ETA 0s/)
    assert.ok(run.stdout.split(REDRAW).length > 2, 'the line is redrawn')
    assert.match(run.stdout, /enrolled 300, skipped 0/)
    const plain = run.stdout.split('\n').map((l) => l.replace(/\r$/, '')).filter((l) => /^enrolled \d+\/300/.test(l))
    assert.deepEqual(plain, [], 'no plain per-decile lines on a TTY')
    assert.ok(!run.stdout.includes(phoneOf(10001)))
  })
})

describe('enrolment file validation', () => {
  const realms = new Set(['example'])
  it('reads quoting, a BOM, CRLF and columns in any order; reports every problem with its line', () => {
    const text = [
      '\uFEFFrealm,Phone,user,serial,otpkey,pin',
      'example,+4915112345678,"doe, john",S1,,"a ""quoted"", pin"',
      '',
      'example,+4915112345679,bob,S1,zz,',
      'example,+4915112345670,carol,S3,0011,',
      'example,+4915112345671,dave',
      'example,+4915112345672,erin,S5,,,extra',
      'example,,frank,S6,,',
      'example,+4915112345673,,S7,,',
      'example,+4915112345674,gina,SMSAE0001,,',
    ].join('\r\n')
    const { good, bad, rows } = validateCsv(text, realms)
    assert.equal(rows, 8, 'the blank line is not a row')
    assert.deepEqual(good.map((g) => [g.line, g.user, g.pin]), [[2, 'doe, john', 'a "quoted", pin']])
    const byLine = Object.fromEntries(bad.map((b) => [b.line, b.errors.join(' | ')]))
    assert.match(byLine[4] ?? '', /otpkey: must be hexadecimal.*serial: 'S1' repeats line 2/)
    assert.match(byLine[5] ?? '', /otpkey: must be at least 16 bytes/)
    assert.match(byLine[6] ?? '', /expected 6 fields .* got 3/)
    assert.match(byLine[7] ?? '', /expected 6 fields .* got 7/)
    assert.match(byLine[8] ?? '', /Missing parameter: 'phone'/)
    assert.match(byLine[9] ?? '', /user: missing/)
    assert.match(byLine[10] ?? '', /reserved for auto-enrolled/)
  })

  it('refuses a header with unknown or missing columns, and broken quoting, before anything', () => {
    assert.throws(() => validateCsv('user,phone,email\n', realms), /line 1 \(header\): unknown column "email".*missing column realm/)
    assert.throws(() => validateCsv('user,phone,realm\nbob,"+49 151,example\n', realms), /line 2: a quoted field is not closed/)
    assert.throws(() => validateCsv('user,phone,realm\nbob,+49 1"51,example\n', realms), /line 2: a quote inside an unquoted field/)
    assert.throws(() => validateCsv('\n\n', realms), /empty/)
  })

  it('keeps line numbers across quoted line breaks', () => {
    const recs = parseCsv('a,b\n"x\ny",z\nq,r\n')
    assert.deepEqual(recs.map((r) => r.line), [1, 2, 4])
    assert.deepEqual(recs[1]?.fields, ['x\ny', 'z'])
  })

  it('the plain progress lines come at each tenth; the TTY line is redrawn', () => {
    let t = 0
    const out: string[] = []
    const p = new Progress({ verb: 'enrolled', total: 4997, sink: { write: (s: string) => out.push(s), isTTY: false }, now: () => t })
    for (let i = 0; i < 4997; i++) {
      t += 1
      p.tick()
    }
    p.finish()
    assert.equal(out.length, 10)
    assert.equal(out[0], 'enrolled 500/4997 (10%), 1000/s, ETA 5s\n')
    assert.equal(out.at(-1), 'enrolled 4997/4997 (100%), 1000/s, ETA 0s\n')
    const tty: string[] = []
    const q = new Progress({ verb: 'enrolled', total: 10, sink: { write: (s: string) => tty.push(s), isTTY: true }, now: () => t })
    for (let i = 0; i < 10; i++) {
      t += 200
      q.tick()
    }
    q.finish()
    assert.ok(tty.every((s) => s.startsWith(`${REDRAW}[`)))
    assert.match((tty[0] ?? '').replace(REDRAW, '<redraw>'), /^<redraw>\[##-{22}\] enrolled 1\/10 \(10%\), 5\/s, ETA 2s$/)
    assert.ok(tty.at(-1)?.endsWith('\n'))
  })
})

describe('token list, show, disable, enable, unlock, delete, export (local)', () => {
  let dataDir: string
  before(async () => {
    const inst = await installed()
    dataDir = inst.dataDir
    const csv = join(inst.root, 'few.csv')
    await writeFile(csv, `user,phone,realm,serial,pin,otpkey\nbob,+4915112345679,example,BOB1,${SECRET_PIN},${SECRET_KEY}\ncarol,+4915112345670,other,CAROL1,,\n`)
    const run = await cli(['token', 'enroll', '--csv', csv, '--data-dir', dataDir, '--no-progress'])
    assert.equal(run.code, 0, run.stderr)
  })
  const d = () => ['--data-dir', dataDir]

  it('list filters by user and realm, pages with --limit/--offset, and prints text or JSON', async () => {
    const text = await cli(['token', 'list', ...d()])
    assert.equal(text.code, 0, text.stderr)
    assert.match(text.stdout, /^SERIAL\s+USER\s+REALM\s+PHONE\s+STATE\s+FAILS$/m)
    assert.match(text.stdout, /^BOB1\s+bob\s+example\s+\+49\*+5679\s+active\s+0\/10$/m)
    assert.match(text.stdout, /1-3 of 3/)
    assert.ok(!text.stdout.includes('+4915112345679'))
    const page = JSON.parse((await cli(['token', 'list', ...d(), '--json', '--limit', '1', '--offset', '1'])).stdout) as { total: number; tokens: Array<{ serial: string }> }
    assert.equal(page.total, 3)
    assert.deepEqual(page.tokens.map((t) => t.serial), ['CAROL1'])
    const other = JSON.parse((await cli(['token', 'list', ...d(), '--json', '--realm', 'other'])).stdout) as { tokens: Array<{ serial: string }> }
    assert.deepEqual(other.tokens.map((t) => t.serial), ['CAROL1'])
    const bob = JSON.parse((await cli(['token', 'list', ...d(), '--json', '--user', 'bob'])).stdout) as { tokens: Array<{ serial: string }> }
    assert.deepEqual(bob.tokens.map((t) => t.serial), ['BOB1'])
  })

  it('show, disable, enable, unlock, delete', async () => {
    const shown = JSON.parse((await cli(['token', 'show', 'BOB1', ...d(), '--json'])).stdout) as { serial: string; active: boolean; phone: string }
    assert.equal(shown.serial, 'BOB1')
    assert.equal(shown.phone, '+49*******5679')
    const text = await cli(['token', 'show', 'BOB1', ...d()])
    assert.match(text.stdout, /^user: bob$/m)
    const dis = await cli(['token', 'disable', 'BOB1', ...d(), '--json'])
    assert.deepEqual(JSON.parse(dis.stdout), { serial: 'BOB1', action: 'disable', count: 1 })
    assert.equal((JSON.parse((await cli(['token', 'show', 'BOB1', ...d(), '--json'])).stdout) as { active: boolean }).active, false)
    assert.match((await cli(['token', 'enable', 'BOB1', ...d()])).stdout, /BOB1: enabled/)
    assert.equal((JSON.parse((await cli(['token', 'show', 'BOB1', ...d(), '--json'])).stdout) as { active: boolean }).active, true)
    assert.match((await cli(['token', 'unlock', 'BOB1', ...d()])).stdout, /BOB1: unlocked/)
    const missing = await cli(['token', 'show', 'NOPE', ...d()])
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /no token with serial "NOPE"/)
    const missingDisable = await cli(['token', 'disable', 'NOPE', ...d()])
    assert.equal(missingDisable.code, 1)
    assert.match(missingDisable.stderr, /no token found/)
    assert.match((await cli(['token', 'delete', 'CAROL1', ...d()])).stdout, /CAROL1: deleted/)
    assert.equal((await cli(['token', 'show', 'CAROL1', ...d()])).code, 1)
  })

  it('export: no seed and no PIN hash without --with-secrets; the decrypted seed with it', async () => {
    const plain = await cli(['token', 'export', ...d()])
    assert.equal(plain.code, 0, plain.stderr)
    const [header, ...rows] = plain.stdout.trim().split('\r\n')
    assert.equal(header, 'serial,user,realm,phone,active,failcount,maxfail,counter,otplen,hashlib,description,created')
    assert.ok(rows.some((r) => r.startsWith('BOB1,bob,example,+4915112345679,true,')))
    assert.ok(!plain.stdout.includes(SECRET_KEY) && !/otpkey|pinhash|seed/i.test(plain.stdout), 'no secret without --with-secrets')
    const json = JSON.parse((await cli(['token', 'export', ...d(), '--json'])).stdout) as Array<Record<string, unknown>>
    assert.ok(json.every((r) => !('otpkey' in r) && !('pinhash' in r)))
    const secret = JSON.parse((await cli(['token', 'export', ...d(), '--json', '--with-secrets'])).stdout) as Array<Record<string, unknown>>
    const bob = secret.find((r) => r.serial === 'BOB1')
    assert.equal(bob?.otpkey, SECRET_KEY)
    assert.equal(typeof bob?.pinhash, 'string')
    assert.ok(!JSON.stringify(secret).includes(SECRET_PIN), 'the PIN itself is never there')
    assert.match((await cli(['token', 'export', ...d(), '--with-secrets'])).stdout, /^serial,.*,otpkey,pinhash\r\n/)
  })
})

describe('--url: against a running sms-otp serve', () => {
  let server: Awaited<ReturnType<typeof startServeProcess>>
  let root: string
  before(async () => {
    const inst = await installed()
    root = inst.root
    server = await startServeProcess(['--port', '0', '--data-dir', inst.dataDir, '--config', inst.configFile], { cwd: inst.root, env: { SMS_OTP_ADMIN_TOKEN: ADMIN_TOKEN } })
  })
  after(() => server?.stop())
  const u = () => ['--url', server.url, '--token', ADMIN_TOKEN]

  it('enrolls a small CSV through /admin/init, skips enrolled users on a second run, lists, shows and disables', async () => {
    const csv = join(root, 'remote.csv')
    await writeFile(csv, `user,realm,phone,pin\nalice,example,+4915112345600,\nrbob,example,+4915112345601,${SECRET_PIN}\nrcarol,other,+4915112345602,\nbad,nowhere,+4915112345603,\n`)
    const run = await cli(['token', 'enroll', '--csv', csv, ...u(), '--json', '--no-progress'])
    assert.equal(run.code, 1, 'one bad row')
    const report = JSON.parse(run.stdout) as { enrolled: number; skipped: Array<{ line: number; reason: string }>; invalid: Array<{ line: number }> }
    assert.equal(report.enrolled, 2)
    assert.deepEqual(report.skipped.map((s) => [s.line, s.reason]), [[2, 'user has a token']])
    assert.deepEqual(report.invalid.map((b) => b.line), [5])
    assert.match(run.stderr, /^line 5: realm: 'nowhere' does not exist$/m)
    const again = JSON.parse((await cli(['token', 'enroll', '--csv', csv, ...u(), '--json'])).stdout) as { enrolled: number; skipped: unknown[] }
    assert.equal(again.enrolled, 0)
    assert.equal(again.skipped.length, 3)

    const listed = JSON.parse((await cli(['token', 'list', ...u(), '--json'])).stdout) as { total: number; tokens: Array<{ serial: string; user: string; phone: string }> }
    assert.equal(listed.total, 3)
    assert.deepEqual(listed.tokens.map((t) => t.user).sort(), ['alice', 'rbob', 'rcarol'])
    assert.ok(listed.tokens.every((t) => t.phone.includes('*')))
    const paged = JSON.parse((await cli(['token', 'list', ...u(), '--json', '--limit', '2', '--offset', '1'])).stdout) as { tokens: Array<{ serial: string }> }
    assert.deepEqual(paged.tokens.map((t) => t.serial), listed.tokens.slice(1, 3).map((t) => t.serial))
    const bob = listed.tokens.find((t) => t.user === 'rbob')?.serial ?? ''
    assert.equal((JSON.parse((await cli(['token', 'show', bob, ...u(), '--json'])).stdout) as { user: string }).user, 'rbob')
    assert.equal(JSON.parse((await cli(['token', 'disable', bob, ...u(), '--json'])).stdout).count, 1)
    assert.equal((JSON.parse((await cli(['token', 'show', bob, ...u(), '--json'])).stdout) as { active: boolean }).active, false)
    const exported = await cli(['token', 'export', ...u()])
    assert.equal(exported.stdout.trim().split('\r\n').length, 4)
    const refused = await cli(['token', 'export', '--with-secrets', ...u()])
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, /--with-secrets works on the local files only/)
    assert.equal(refused.stdout, '')
  })
})
