/**
 * The README's promise: `npm start` (the CLI with --demo) and the "Try it" curl lines produce
 * exactly the answers the README shows. The commands are read from README.md itself and run with
 * bash against a real `sms-otp serve --demo` process in a temporary directory.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { startServeProcess, type ServeProcess } from './helpers/serve-process.js'

const root = join(import.meta.dirname, '..')

interface Step {
  command: string
  expected: string | undefined
}

/** Commands of the first ```sh block under "## Try it", each with the `# {...}` answer below it. */
async function readmeSteps(): Promise<Step[]> {
  const readme = await readFile(join(root, 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('## Try it'))
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? ''
  const steps: Step[] = []
  let current: Step | undefined
  for (const line of block.split('\n')) {
    if (line.startsWith('# {') || (line.startsWith('#  ') && current?.expected !== undefined)) {
      if (current) current.expected = (current.expected ?? '') + line.replace(/^#\s?/, '').replace(/^ /, '')
    } else if (line.trim() !== '' && !line.startsWith('#')) {
      current = { command: line, expected: undefined }
      steps.push(current)
    }
  }
  return steps
}

/** The README's answers with `<17 digits>` placeholders, as an anchored regular expression. */
function pattern(expected: string): RegExp {
  const escaped = expected.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
  return new RegExp(`^${escaped.replaceAll('<17 digits>', '[1-9][0-9]{16}')}$`)
}

describe('README quick start', () => {
  let dir = ''
  let server: ServeProcess | undefined
  let url = ''
  const stdout = (): string => server?.stdout() ?? ''

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sms-otp-readme-'))
    server = await startServeProcess(['--demo', '--port', '0', '--data-dir', join(dir, 'data')], { cwd: dir, env: { SMS_OTP_ADMIN_TOKEN: '' }, ready: /demo: user alice/ })
    url = server.url
  })

  after(async () => {
    await server?.stop()
    await rm(dir, { recursive: true, force: true })
  })

  it('prints the listening address, a generated admin token and the demo hint', () => {
    assert.match(stdout(), /admin token \(Authorization: Bearer …\): \S{20,}/)
    assert.match(stdout(), /demo: user alice, PIN 1234/)
  })

  it('every curl line answers what the README shows', async () => {
    const steps = await readmeSteps()
    assert.ok(steps.length >= 4, 'the README has its curl walkthrough')
    const script = steps.map((s) => s.command.replaceAll('http://127.0.0.1:5001', url)).join('\necho "<<step>>"\n')
    const out = execFileSync('bash', ['-euo', 'pipefail', '-c', script], { cwd: dir, encoding: 'utf8' })
    const answers = out.split('<<step>>\n').map((a) => a.trim())
    assert.equal(answers.length, steps.length)
    for (const [i, step] of steps.entries()) {
      if (step.expected === undefined) continue
      assert.match(answers[i] as string, pattern(step.expected), `step ${i + 1}: ${step.command}`)
    }
    // The walkthrough really sent one SMS and the OTP came from it.
    const outbox = await readFile(join(dir, 'data', 'sms-outbox.log'), 'utf8')
    assert.match(outbox, /^\+4915112345678:\d{6}\n$/)
    assert.match(stdout(), /\[sms-otp outbox\] SMS to \+4915112345678: \d{6}/)
  })

  it('stops gracefully on SIGTERM with exit code 0', async () => {
    const child = server?.child
    const exited = new Promise<number | null>((ok) => child?.once('exit', (code) => ok(code)))
    child?.kill('SIGTERM')
    assert.equal(await exited, 0)
  })
})
