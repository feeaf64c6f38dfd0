/** User directories: the resolver contract, the built-in resolvers and realms. See docs/users.md. */
export type { User, UserAttributes, UserResolver } from './types.js'
export { DirectoryError } from './types.js'
export { functionResolver, type FoundUser, type FunctionResolverOptions } from './function.js'
export { fileResolver, type FileResolverOptions } from './file.js'
export { ldapResolver, type LdapResolverOptions } from './ldap.js'
export { escapeFilterValue } from './ldap-filter.js'
export { createRealms, type RealmsOptions, type Users } from './realms.js'
export { sha512Crypt, verifyHash } from './crypt.js'
