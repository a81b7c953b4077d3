/**
 * Every HTTP error Tether answers: `{ "error": { "code": "snake_case", "message": "…" } }`, in
 * Nango's shape (validation errors add `errors: [{code, message, path}]`). Shared by the HTTP layer
 * (src/server/) and the engine, whose proxy and connect flow answer callers with these directly.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }

  toBody(): { error: Record<string, unknown> } {
    return { error: { code: this.code, message: this.message, ...this.extra } };
  }
}

export const notFound = (message = 'Not found') => new ApiError(404, 'not_found', message);
