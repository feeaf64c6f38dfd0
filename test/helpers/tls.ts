/**
 * Throwaway PKI for TLS tests, made with the `openssl` CLI in a temp dir: a CA, a server
 * certificate for 127.0.0.1/localhost, and a client certificate (clientAuth) signed by the same CA.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export interface TestPki {
  readonly dir: string
  readonly caCertPath: string
  readonly caCert: string
  readonly serverCertPath: string
  readonly serverKeyPath: string
  readonly serverCert: string
  readonly serverKey: string
  readonly clientCertPath: string
  readonly clientKeyPath: string
  readonly clientCert: string
  readonly clientKey: string
  cleanup(): void
}

function openssl(dir: string, args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] })
}

export function createTestPki(): TestPki {
  const dir = mkdtempSync(join(tmpdir(), 'sms-otp-pki-'))
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
  openssl(dir, [
    'req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=sms-otp test CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
  ])
  const issue = (name: string, cn: string, ext: string) => {
    writeFileSync(join(dir, `${name}.ext`), ext)
    openssl(dir, ['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`])
    openssl(dir, [
      'x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
      '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`,
    ])
  }
  issue(
    'server',
    'localhost',
    'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n',
  )
  issue('client', 'sms-otp test client', 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n')
  const read = (f: string) => readFileSync(join(dir, f), 'utf8')
  return {
    dir,
    caCertPath: join(dir, 'ca.crt'),
    caCert: read('ca.crt'),
    serverCertPath: join(dir, 'server.crt'),
    serverKeyPath: join(dir, 'server.key'),
    serverCert: read('server.crt'),
    serverKey: read('server.key'),
    clientCertPath: join(dir, 'client.crt'),
    clientKeyPath: join(dir, 'client.key'),
    clientCert: read('client.crt'),
    clientKey: read('client.key'),
    cleanup() {
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
