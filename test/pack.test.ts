/**
 * The package as a consumer gets it: `npm pack` (which runs `prepare`, the build) into a temporary
 * directory, the tarball installed with npm into a fresh ES-module project and a fresh CommonJS
 * project, and the README's "As a library" snippet run there with `import` and with `require()`
 * against a loopback SMS gateway. Also the `sms-otp` bin from the installed package.
 *
 * The repository is copied (sources, tsconfig, package.json, README) and packed in the copy, so
 * the build never writes dist/ into the working tree. npm installs from its cache where it can
 * (`--prefer-offline`; `npm ci` filled it). better-sqlite3 has no prebuilt binary reachable here,
 * so its install script would compile it (about 100 s per project); the test offers the binary
 * this checkout already built as a local prebuild (prebuild-install's documented
 * `npm_config_better_sqlite3_local_prebuilds`), and the install scripts still run as they do for
 * a consumer.
 */
import assert from 'node:assert/strict'
import { execFile as execFileCb, spawn } from 'node:child_process'
import { cp, mkdir, mkdtemp, readFile, rm, symlink, writeFile, access } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { promisify } from 'node:util'
import { startGateway, type Gateway } from './helpers/gateway.js'

const execFile = promisify(execFileCb)
const root = join(import.meta.dirname, '..')
/** Hang guard for one npm command, not a performance bound. */
const NPM_TIMEOUT_MS = 240_000

/** The ```ts block under "## As a library" in README.md. */
async function readmeSnippet(): Promise<string> {
  const readme = await readFile(join(root, 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('## As a library'))
  const block = /```ts\n([\s\S]*?)```/.exec(section)?.[1]
  assert.ok(block, 'README.md has a ts block under "## As a library"')
  return block
}

/**
 * Child-side helper: `nextOtp()` asks the test for the OTP the gateway received (a `NEED_OTP`
 * line on stdout) and resolves with the line the test writes to stdin.
 */
const PRELUDE = `
let pending = ''
const waiting = []
process.stdin.setEncoding('utf8')
process.stdin.on('data', (chunk) => {
  pending += chunk
  for (let i = pending.indexOf('\\n'); i >= 0; i = pending.indexOf('\\n')) {
    const line = pending.slice(0, i)
    pending = pending.slice(i + 1)
    waiting.shift()?.(line)
  }
})
const nextOtp = () => new Promise((ok) => {
  waiting.push(ok)
  process.stdout.write('NEED_OTP\\n')
})
`

/** After the snippet: report its outcome, then PIN + OTP in one `pass` (no transaction id). */
const EPILOGUE = `
console.log('RESULT ' + JSON.stringify({ first: first.value, txid, second: second.value }))
const again = await otp.check({ user: 'alice', pass: '1234' })
const pinOtp = await otp.check({ user: 'alice', pass: '1234' + (await nextOtp()) })
console.log('RESULT2 ' + JSON.stringify({ again: again.value, pinOtp: pinOtp.value }))
await otp.close()
process.stdin.destroy()
`

/** The snippet as a consumer adapts it: the gateway URL, and the OTP the SMS brought. */
function consumerScript(snippet: string, gatewayUrl: string, kind: 'esm' | 'cjs'): string {
  assert.ok(snippet.includes("'https://gateway.example/send'"), 'the snippet names the example gateway URL')
  assert.ok(snippet.includes("pass: '123456'"), "the snippet answers with pass: '123456'")
  const body = snippet.replace("'https://gateway.example/send'", JSON.stringify(gatewayUrl)).replace("pass: '123456'", 'pass: await nextOtp()')
  // import declarations are hoisted, so the helper may precede the snippet's import line.
  if (kind === 'esm') return `${PRELUDE}\n${body}\n${EPILOGUE}`
  const imports = /^import \{([^}]+)\} from 'sms-otp'\n/m.exec(body)
  assert.ok(imports, 'the snippet imports from sms-otp')
  const rest = body.replace(imports[0], '')
  assert.ok(!/^import /m.test(rest), 'the snippet has one import line')
  return `'use strict'\nconst {${imports[1]}} = require('sms-otp')\n${PRELUDE}\n;(async () => {\n${rest}\n${EPILOGUE}\n})().catch((err) => {\n  console.error(err)\n  process.exit(1)\n})\n`
}

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs the consumer script; answers each NEED_OTP with the OTP of the gateway's last SMS. */
function runScript(cwd: string, file: string, gateway: Gateway, flags: string[]): Promise<Run> {
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, [...flags, file], { cwd, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    const guard = setTimeout(() => child.kill('SIGKILL'), 60_000) // hang guard only
    let answered = 0
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk
      const asks = stdout.split('\n').filter((l) => l === 'NEED_OTP').length
      for (; answered < asks; answered++) {
        const last = gateway.requests.at(-1)
        const sms = last ? new URLSearchParams(last.body).get('sms') ?? '' : ''
        child.stdin.write(`${/\d{6}/.exec(sms)?.[0] ?? 'none'}\n`)
      }
    })
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => {
      stderr += chunk
    })
    child.on('error', fail)
    child.on('close', (code) => {
      clearTimeout(guard)
      ok({ code, stdout, stderr })
    })
  })
}

describe('the npm package installed by a consumer', () => {
  let dir = ''
  let tarball = ''
  let gateway: Gateway
  // Under `npm test` the outer npm exports its settings (npm_config_local_prefix=<this checkout>,
  // npm_package_*): the inner npm commands must not inherit them and act on the checkout.
  const env: NodeJS.ProcessEnv = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k) && k !== 'INIT_CWD')),
    npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false',
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sms-otp-pack-'))
    gateway = await startGateway({ behaviour: { body: 'OK' } })
    // A copy of what the build and the package need; node_modules is shared (read only).
    const copy = join(dir, 'pkg')
    const build = JSON.parse(await readFile(join(root, 'tsconfig.build.json'), 'utf8')) as { include: string[] }
    for (const entry of [...build.include, 'bin', 'package.json', 'README.md', 'tsconfig.json', 'tsconfig.build.json']) {
      await cp(join(root, entry), join(copy, entry), { recursive: true }).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err
      })
    }
    await symlink(join(root, 'node_modules'), join(copy, 'node_modules'), 'dir')
    const packed = await execFile('npm', ['pack', '--json', '--pack-destination', dir], { cwd: copy, env, timeout: NPM_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 })
    // `prepare` prints the build's output before npm's JSON report.
    const report = JSON.parse(packed.stdout.slice(packed.stdout.indexOf('[\n'))) as Array<{ filename: string }>
    tarball = join(dir, report[0]?.filename ?? '')

    // The already built better-sqlite3 binary as a local prebuild (see the file comment).
    const sqlite = join(root, 'node_modules', 'better-sqlite3')
    const binary = join(sqlite, 'build', 'Release', 'better_sqlite3.node')
    const hasBinary = await access(binary).then(() => true, () => false)
    if (hasBinary) {
      const { version } = JSON.parse(await readFile(join(sqlite, 'package.json'), 'utf8')) as { version: string }
      const stage = join(dir, 'prebuild-stage')
      await mkdir(join(stage, 'build', 'Release'), { recursive: true })
      await cp(binary, join(stage, 'build', 'Release', 'better_sqlite3.node'))
      const prebuilds = join(dir, 'prebuilds')
      await mkdir(prebuilds)
      const name = `better-sqlite3-v${version}-node-v${process.versions.modules}-${process.platform}-${process.arch}.tar.gz`
      await execFile('tar', ['-czf', join(prebuilds, name), '-C', stage, 'build'])
      env.npm_config_better_sqlite3_local_prebuilds = prebuilds
    }
  })

  after(async () => {
    await gateway?.close()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('the tarball holds the built entry points and the bin, not the TypeScript sources', async () => {
    const { stdout } = await execFile('tar', ['-tzf', tarball])
    const files = stdout.split('\n').filter(Boolean)
    for (const f of ['package/package.json', 'package/README.md', 'package/bin/sms-otp.js', 'package/dist/src/index.js', 'package/dist/src/index.d.ts', 'package/dist/middleware/index.js', 'package/dist/src/sidecar/index.js', 'package/dist/src/cli/main.js']) {
      assert.ok(files.includes(f), `${f} is packed`)
    }
    assert.deepEqual(files.filter((f) => /\.ts$/.test(f) && !f.endsWith('.d.ts')), [], 'no TypeScript sources')
    assert.deepEqual(files.filter((f) => f.startsWith('package/test/') || f.includes('/data/')), [], 'no tests, no data')
  })

  for (const kind of ['esm', 'cjs'] as const) {
    it(`the README library snippet runs from the installed tarball with ${kind === 'esm' ? 'import (ES module project)' : 'require() (CommonJS project)'}`, async () => {
      const project = join(dir, `consumer-${kind}`)
      await mkdir(project)
      await writeFile(join(project, 'package.json'), JSON.stringify({ name: `consumer-${kind}`, version: '1.0.0', private: true, type: kind === 'esm' ? 'module' : 'commonjs' }))
      await execFile('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', tarball], { cwd: project, env, timeout: NPM_TIMEOUT_MS, maxBuffer: 16 * 1024 * 1024 })
      const script = consumerScript(await readmeSnippet(), `${gateway.url}/send`, kind)
      const file = kind === 'esm' ? 'app.mjs' : 'app.js'
      await writeFile(join(project, file), script)
      // require() of an ES module is on by default from Node 20.19; older 20.x need the flag.
      const flags = kind === 'cjs' && (process.features as { require_module?: boolean }).require_module !== true ? ['--experimental-require-module'] : []
      gateway.reset({ body: 'OK' })
      const run = await runScript(project, file, gateway, flags)
      assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`)
      const result = JSON.parse(/^RESULT (.*)$/m.exec(run.stdout)?.[1] ?? '{}') as { first?: boolean; txid?: string; second?: boolean }
      assert.equal(result.first, false, 'the PIN alone triggers the SMS')
      assert.match(String(result.txid), /^[1-9][0-9]{16}$/)
      assert.equal(result.second, true, 'the OTP with the transaction id authenticates')
      const result2 = JSON.parse(/^RESULT2 (.*)$/m.exec(run.stdout)?.[1] ?? '{}') as { again?: boolean; pinOtp?: boolean }
      assert.deepEqual(result2, { again: false, pinOtp: true }, 'PIN + OTP authenticates')
      assert.equal(gateway.requests.length, 2, 'two SMS went out')
      for (const r of gateway.requests) {
        assert.equal(new URLSearchParams(r.body).get('phone'), '+4915112345678')
        assert.match(new URLSearchParams(r.body).get('sms') ?? '', /^\d{6}$/)
      }
      // The bin from the installed package runs the compiled CLI.
      const bin = await execFile(join(project, 'node_modules', '.bin', 'sms-otp'), ['--help'], { cwd: project })
      assert.match(bin.stdout, /^Usage: sms-otp /m)
      assert.match(bin.stdout, /\bserve\b/)
    })
  }
})
