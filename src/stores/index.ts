/** Store backends and their contracts. */
export type * from './types.js'
export { createMemoryStore } from './memory.js'
export type { MemoryStoreOptions } from './memory.js'
export { createSqliteStore } from './sqlite.js'
export type { SqliteStoreOptions } from './sqlite.js'
