/**
 * A real OpenLDAP `slapd` for tests: a generated slapd.conf (mdb backend, core/cosine/inetorgperson
 * schemas) in a mkdtemp dir, entries loaded offline with `slapadd`, listening on loopback (plain
 * and, with `tls`, LDAPS plus StartTLS). Runs in the foreground with `-d stats` so tests can count
 * connections and binds in its log. Under CI=true a missing slapd is a failure, not a skip.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const SLAPD = ['/usr/sbin/slapd', '/usr/local/libexec/slapd'].find((p) => existsSync(p))
/** Why LDAP tests are skipped here, or false when they run (never skipped under CI=true). */
export const slapdSkip: string | false = SLAPD === undefined && process.env.CI !== 'true' ? 'slapd is not installed (apt-get install slapd ldap-utils)' : false

export const SUFFIX = 'dc=example,dc=org'
export const ROOT_DN = `cn=admin,${SUFFIX}`
export const ROOT_PW = 'root-secret'
export const SERVICE_DN = `cn=service,${SUFFIX}`
export const SERVICE_PW = 'service-secret'

export interface Slapd {
  readonly url: string
  /** `ldaps://127.0.0.1:port` when started with `tls`. */
  readonly ldapsUrl: string | undefined
  readonly port: number
  /** Everything slapd logged so far (stats level: ACCEPT, BIND, SRCH … lines). */
  log(): string
  /** Number of `BIND dn="<dn>"` operations logged. */
  binds(dn: string): number
  /** Resolves once slapd has logged nothing for `ms` (its log lines may trail the LDAP answers). */
  quiet(ms?: number): Promise<void>
  stop(): Promise<void>
}

async function freePort(): Promise<number> {
  const srv = createServer()
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve))
  const port = (srv.address() as { port: number }).port
  await new Promise((resolve) => srv.close(resolve))
  return port
}

async function waitForPort(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 15_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`slapd exited with ${child.exitCode}:\n${log()}`)
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1')
      s.once('connect', () => { s.destroy(); resolve(true) })
      s.once('error', () => resolve(false))
    })
    if (ok) return
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error(`slapd did not listen on ${port}:\n${log()}`)
}

/** Starts slapd with the service account, the `people` OU and the given extra LDIF entries. */
export async function startSlapd(options: { ldif?: string; tls?: { certPath: string; keyPath: string } } = {}): Promise<Slapd> {
  if (SLAPD === undefined) throw new Error('slapd is not installed (apt-get install slapd ldap-utils)')
  const dir = mkdtempSync(join(tmpdir(), 'sms-otp-slapd-'))
  mkdirSync(join(dir, 'db'))
  const tlsConf = options.tls ? `TLSCertificateFile ${options.tls.certPath}\nTLSCertificateKeyFile ${options.tls.keyPath}\n` : ''
  writeFileSync(join(dir, 'slapd.conf'), `include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
pidfile ${dir}/slapd.pid
modulepath /usr/lib/ldap
moduleload back_mdb
# Accept "unauthenticated" binds (a DN with an empty password) as anonymous, as many directories
# (Active Directory among them) do: the case the resolvers must never mistake for a login.
allow bind_anon_dn
${tlsConf}database mdb
maxsize 10485760
suffix "${SUFFIX}"
rootdn "${ROOT_DN}"
rootpw ${ROOT_PW}
directory ${dir}/db
access to attrs=userPassword by anonymous auth by self read by * none
access to * by users read by * none
`)
  writeFileSync(join(dir, 'base.ldif'), `dn: ${SUFFIX}
objectClass: dcObject
objectClass: organization
dc: example
o: Example

dn: ${SERVICE_DN}
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: service
userPassword: ${SERVICE_PW}

dn: ou=people,${SUFFIX}
objectClass: organizationalUnit
ou: people

${options.ldif ?? ''}`)
  execFileSync('/usr/sbin/slapadd', ['-f', join(dir, 'slapd.conf'), '-l', join(dir, 'base.ldif')], { stdio: ['ignore', 'ignore', 'pipe'] })
  const port = await freePort()
  const tlsPort = options.tls ? await freePort() : undefined
  const urls = [`ldap://127.0.0.1:${port}/`, ...(tlsPort ? [`ldaps://127.0.0.1:${tlsPort}/`] : [])]
  const child = spawn(SLAPD, ['-f', join(dir, 'slapd.conf'), '-h', urls.join(' '), '-d', 'stats'], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let lastData = Date.now()
  const take = (b: Buffer) => { out += b.toString(); lastData = Date.now() }
  child.stdout?.on('data', take)
  child.stderr?.on('data', take)
  try {
    await waitForPort(port, child, () => out)
    if (tlsPort) await waitForPort(tlsPort, child, () => out)
  } catch (err) {
    child.kill('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
    throw err
  }
  return {
    url: `ldap://127.0.0.1:${port}`,
    ldapsUrl: tlsPort ? `ldaps://127.0.0.1:${tlsPort}` : undefined,
    port,
    log: () => out,
    binds: (dn) => out.split('\n').filter((l) => l.includes(`BIND dn="${dn}" method=`)).length,
    async quiet(ms = 100) {
      while (Date.now() - lastData < ms) await new Promise((r) => setTimeout(r, 20))
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve))
        child.kill('SIGTERM')
        const t = setTimeout(() => child.kill('SIGKILL'), 5000)
        await exited
        clearTimeout(t)
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
