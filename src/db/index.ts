/** The persistence layer: `openStore` at startup, then the repository functions with `store.ctx`. */
export * from './context.ts';
export * from './database.ts';
export * from './schema.ts';
export * as meta from './meta.ts';
export * as environments from './environments.ts';
export * as integrations from './integrations.ts';
export * as connections from './connections.ts';
export * as sessions from './sessions.ts';
export * from './store.ts';
