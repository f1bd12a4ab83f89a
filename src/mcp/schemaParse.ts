// How the tool schemas are built for the MCP SDK: strict inputs, and objects whose async parse
// (the only one the SDK calls) is zod's synchronous one.
import { z } from 'zod';

/**
 * Tool inputs reject unknown fields: the JSON Schema we advertise says additionalProperties:false,
 * and a misspelt option (`timeout` for `timeout_s`) must not be dropped while the command runs.
 */
export const strictInput = <T extends z.ZodRawShape>(shape: T) => checkedSync(z.object(shape).strict());

/** A tool's output schema (an object of these fields), checked as checkedSync says. */
export const toolOutput = <T extends z.ZodRawShape>(shape: T) => checkedSync(z.object(shape));

/**
 * The MCP SDK checks every call's arguments and every answer with zod's safeParseAsync, which in
 * zod 3 makes a promise of every field of every element: a 300-command fan-out's answer took 3.4
 * ms against 1.0 ms for safeParse in a loop, and 10-25 ms inside serve (between the handler's
 * return and the answer going out, the rest of serve's work interleaving with its awaits). Every
 * check in these schemas is synchronous, so safeParse finds the same issues (listed in the order
 * of the fields, where the async parse lists them as its promises settle); the SDK then awaits a
 * settled promise. The advertised JSON Schemas do not change.
 */
function checkedSync<T extends z.ZodTypeAny>(schema: T): T {
  schema.safeParseAsync = (data: unknown) => Promise.resolve(schema.safeParse(data));
  return schema;
}
