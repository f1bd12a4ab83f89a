import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

// Registered by the embedded server at start (see SEARCH_ATTRIBUTES in shared.ts); on a real
// cluster register them once with `temporal operator search-attribute create`.
export const ClusterNode = defineSearchAttributeKey('ClusterNode', SearchAttributeType.KEYWORD);
export const ClusterTaskKind = defineSearchAttributeKey('ClusterTaskKind', SearchAttributeType.KEYWORD);
export const ClusterExitCode = defineSearchAttributeKey('ClusterExitCode', SearchAttributeType.INT);
export const ClusterCommand = defineSearchAttributeKey('ClusterCommand', SearchAttributeType.TEXT);
/** Our task state (completed|failed|cancelled|timed_out): Temporal's own status says Completed for all of them. */
export const ClusterState = defineSearchAttributeKey('ClusterState', SearchAttributeType.KEYWORD);

/**
 * ClusterCommand holds the programs a command runs ("make", "cd make"), never the command line:
 * search attributes are not encrypted (the server indexes them), and anyone who can reach the
 * server can read them. The full command is in the (encrypted) memo and input.
 */
export const programsAttr = (programs: readonly string[]): string => {
  const text = [...new Set(programs)].join(' ') || '-';
  return text.length > 256 ? text.slice(0, 253) + '...' : text;
};
