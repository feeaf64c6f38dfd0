/**
 * CLIENT_CERTIFICATE_FILE of RestSMSProvider: one PEM file holding the client certificate (plus any
 * intermediates) and its unencrypted private key, as python-requests' `session.cert = path` takes
 * it. Read and checked once at config load, so a wrong file fails the load instead of every
 * handshake. LinOTP silently sends without a certificate when the file does not exist; we refuse.
 */
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto'
import { ConfigError } from '../../errors.js'
import { readRegularFile } from '../read-file.js'

/** A client certificate chain and its key, as PEM texts for `tls.connect`. */
export interface ClientCertificate {
  /** Leaf certificate first, then intermediates, as in the file. */
  readonly cert: string
  readonly key: string
  /** Expiry of the leaf certificate (for a warning; the gateway decides). */
  readonly validTo: Date
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n[\s\S]*?\r?\n-----END \1-----/g

/**
 * Reads a PEM file with a certificate and its private key (never blocking on a FIFO or device;
 * `noFollow`: refuse a final symbolic link, for an admin-defined provider's realpath).
 * @throws ConfigError naming `key` when the file is missing, unreadable or not a regular file, lacks a certificate or a
 *   key, holds an encrypted key, or the key does not belong to the certificate.
 */
export function loadClientCertificate(path: string, key = 'CLIENT_CERTIFICATE_FILE', options: { noFollow?: boolean } = {}): ClientCertificate {
  let text: string
  try {
    text = readRegularFile(path, key, options)
  } catch (err) {
    if (err instanceof ConfigError) throw err
    const code = (err as NodeJS.ErrnoException).code
    throw new ConfigError(`${key}: ${code === 'ENOENT' ? 'file not found' : `cannot read the file (${code ?? 'error'})`}: ${path}`, undefined, err)
  }
  const certs: string[] = []
  const keys: string[] = []
  for (const m of text.matchAll(PEM_BLOCK)) {
    const label = m[1] as string
    if (label === 'CERTIFICATE') certs.push(m[0])
    else if (label === 'ENCRYPTED PRIVATE KEY' || (/PRIVATE KEY$/.test(label) && /Proc-Type:\s*4,ENCRYPTED/.test(m[0]))) {
      throw new ConfigError(`${key}: the private key in ${path} is encrypted; a key without passphrase is needed`)
    } else if (/PRIVATE KEY$/.test(label)) keys.push(m[0])
  }
  if (certs.length === 0) throw new ConfigError(`${key}: no PEM certificate (-----BEGIN CERTIFICATE-----) in ${path}`)
  if (keys.length === 0) throw new ConfigError(`${key}: no PEM private key (-----BEGIN PRIVATE KEY-----) in ${path}; the file must hold the certificate and its key`)
  if (keys.length > 1) throw new ConfigError(`${key}: more than one private key in ${path}`)

  let leaf: X509Certificate
  let privateKey: KeyObject
  try {
    leaf = new X509Certificate(certs[0] as string)
  } catch (err) {
    throw new ConfigError(`${key}: the first certificate in ${path} cannot be parsed`, undefined, err)
  }
  try {
    privateKey = createPrivateKey(keys[0] as string)
  } catch (err) {
    throw new ConfigError(`${key}: the private key in ${path} cannot be parsed`, undefined, err)
  }
  if (!leaf.checkPrivateKey(privateKey)) {
    throw new ConfigError(`${key}: the private key in ${path} does not belong to its first certificate`)
  }
  return Object.freeze({ cert: certs.join('\n'), key: keys[0] as string, validTo: new Date(leaf.validTo) })
}
