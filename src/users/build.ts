/**
 * Turns a resolver definition (users/definitions.ts) into a resolver, and judges what it may use.
 * An admin-defined definition is held to the operator's allow-lists exactly like an admin-defined
 * provider (providers/resources.ts): its users file and CA file only under `allowPaths`, no `..`;
 * its LDAP server only where `allowHosts` and the private-network and link-local rules allow,
 * judged from the URL's text when it is set and on every address the name resolves to when it
 * connects. Local definitions (code, config file) are trusted, but reach no link-local or cloud
 * metadata address unless `allowHosts` lists it (as local providers).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { isOtpError } from '../errors.js'
import { readRegularFile } from '../providers/read-file.js'
import { isListedHost } from '../providers/net/destinations.js'
import { ResourceError, checkDestination, confinePath, type ResourceContext } from '../providers/resources.js'
import { fileOptions, ldapOptions, type LdapDefinitionOptions, type ResolverDefinition } from './definitions.js'
import { fileResolver } from './file.js'
import { ldapResolver, type LdapResolverOptions } from './ldap.js'
import { pinnedLdapResolver } from './ldap-pinned.js'
import type { UserResolver } from './types.js'

/** Runs a resource check; its refusal speaks of a resolver, not of a provider. */
function asResolver<T>(check: () => T): T {
  try {
    return check()
  } catch (err) {
    if (err instanceof ResourceError) throw new ResourceError(err.message.replace(/\bprovider\b/g, 'resolver'))
    throw err
  }
}

/**
 * Judges the files and hosts a definition would use, from their text (no file is opened, no
 * name resolved).
 * @throws ResourceError `ERR_OTP_RESOURCE_NOT_ALLOWED` naming the parameter and the start flag that would allow it.
 */
export function checkResolverResources(d: ResolverDefinition, ctx: ResourceContext): void {
  if (d.type === 'file') {
    asResolver(() => confinePath(ctx, 'fileName', fileOptions(d).path))
    return
  }
  const o = ldapOptions(d)
  asResolver(() => checkDestination(ctx, 'LDAPURI', o.host))
  if (ctx.origin === 'admin') {
    // An LDAP resolver receives every user's password at bind time: one defined through the admin
    // API must name a server the operator listed, and reach it over TLS.
    if (!isListedHost(ctx.policy.hosts, o.host)) {
      throw new ResourceError(`LDAPURI: ${o.host} is not allowed: an LDAP resolver set through the admin API receives users' passwords, so its server must be listed; start sms-otp serve with --allow-host ${o.host} (library: resources.allowHosts)`)
    }
    if (o.url.startsWith('ldap://') && !o.startTls) throw new ResourceError("LDAPURI: an LDAP resolver set through the admin API needs ldaps:// or START_TLS: users' passwords must not cross the network in clear")
  }
  if (o.ca !== undefined && 'file' in o.ca) {
    const file = o.ca.file
    asResolver(() => confinePath(ctx, 'CACERTIFICATE', file))
  }
}

/**
 * Builds the resolver of a definition (after {@link checkResolverResources}). A CA given as PEM
 * text, or read from an admin-defined path, is placed in a private temporary file that `close`
 * removes.
 * @throws ResourceError, ConfigError (a CA file that is no regular file).
 */
export async function buildResolver(d: ResolverDefinition, ctx: ResourceContext): Promise<UserResolver> {
  checkResolverResources(d, ctx)
  if (d.type === 'file') {
    const o = fileOptions(d)
    const confined = asResolver(() => confinePath(ctx, 'fileName', o.path))
    return fileResolver({ ...o, path: confined?.path ?? o.path })
  }
  const o = ldapOptions(d)
  const ca = await placeCa(o, ctx)
  const options: LdapResolverOptions = {
    name: o.name, url: o.url, bindDn: o.bindDn, bindPassword: o.bindPassword, searchBase: o.searchBase, searchFilter: o.searchFilter,
    loginAttribute: o.loginAttribute, startTls: o.startTls,
    ...(o.attributes === undefined ? {} : { attributes: o.attributes }), ...(o.timeoutMs === undefined ? {} : { timeoutMs: o.timeoutMs }),
    ...(ca === undefined ? {} : { caFile: ca.path }),
  }
  let resolver: UserResolver & { close(): Promise<void> }
  try {
    // Local definitions reach their server as named (the text check above refused metadata hosts);
    // admin-defined ones connect only to an address judged when the name resolved.
    resolver = ctx.origin === 'admin' && isIP(o.host) === 0 ? pinnedLdapResolver(options, ctx) : ldapResolver(options)
  } catch (err) {
    await ca?.remove()
    throw err
  }
  return Object.freeze({
    name: resolver.name,
    find: resolver.find.bind(resolver),
    checkPassword: resolver.checkPassword.bind(resolver),
    async close(): Promise<void> {
      await resolver.close()
      await ca?.remove()
    },
  })
}

/** The CA file `ldapResolver` reads: the local path as given, else a private copy. */
async function placeCa(o: LdapDefinitionOptions, ctx: ResourceContext): Promise<{ path: string; remove(): Promise<void> } | undefined> {
  if (o.ca === undefined) return undefined
  let pem: string
  if ('pem' in o.ca) pem = o.ca.pem
  else {
    const file = o.ca.file
    const confined = asResolver(() => confinePath(ctx, 'CACERTIFICATE', file))
    if (confined === undefined) return { path: file, remove: async () => undefined }
    try {
      // Never a FIFO or a device: an admin-named path is read without blocking, as providers do.
      pem = readRegularFile(confined.path, 'CACERTIFICATE', { noFollow: true })
    } catch (err) {
      if (isOtpError(err)) throw err
      throw new ResourceError(`CACERTIFICATE: cannot read the file (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
    }
  }
  const dir = await mkdtemp(join(tmpdir(), 'sms-otp-ldap-ca-'))
  const path = join(dir, 'ca.pem')
  await writeFile(path, pem, { mode: 0o600 })
  return { path, remove: () => rm(dir, { recursive: true, force: true }) }
}
