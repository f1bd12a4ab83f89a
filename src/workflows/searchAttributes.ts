import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

// Registered by the embedded server at start (see SEARCH_ATTRIBUTES in shared.ts); on a real
// cluster register them once with `temporal operator search-attribute create`.
export const ClusterNode = defineSearchAttributeKey('ClusterNode', SearchAttributeType.KEYWORD);
export const ClusterTaskKind = defineSearchAttributeKey('ClusterTaskKind', SearchAttributeType.KEYWORD);
export const ClusterExitCode = defineSearchAttributeKey('ClusterExitCode', SearchAttributeType.INT);
export const ClusterCommand = defineSearchAttributeKey('ClusterCommand', SearchAttributeType.TEXT);
/** Our task state (completed|failed|cancelled|timed_out): Temporal's own status says Completed for all of them. */
export const ClusterState = defineSearchAttributeKey('ClusterState', SearchAttributeType.KEYWORD);

/** Text search attributes are capped (the server limit is 2 KiB per value by default). */
export const commandAttr = (command: string): string => (command.length > 512 ? command.slice(0, 509) + '...' : command);
