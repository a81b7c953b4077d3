/** The HTTP error type (defined beside the engine, which answers with it too: src/api-error.ts). */
export { ApiError, notFound } from '../api-error.ts';
