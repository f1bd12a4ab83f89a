/**
 * Temporal cannot be used: one line that names the cause and the fix (the CLI's error boundary
 * prints it as is; `serve` exits with it on stderr before any MCP traffic).
 */
export class TemporalSetupError extends Error {
  override name = 'TemporalError';
}
