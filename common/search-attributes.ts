/**
 * Custom search attributes: what an operator filters runs by in the Web UI and the CLI.
 * Registered on the namespace at start (devstack/temporal-namespace.ts); bundle-safe.
 * The dev server's SQLite visibility store has 10 Keyword, 3 Bool and 3 KeywordList slots.
 */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

export const SEARCH_ATTRIBUTES = {
  /** The release a run is about: `Rawhide`, `28`, `F43`. */
  release: defineSearchAttributeKey('RelengRelease', SearchAttributeType.KEYWORD),
  /** Pungi compose ID, e.g. `Fedora-Rawhide-20261123.n.0`. */
  composeId: defineSearchAttributeKey('RelengComposeId', SearchAttributeType.KEYWORD),
  /** The Koji build a run is about, as N-V-R. */
  buildNvr: defineSearchAttributeKey('RelengBuildNvr', SearchAttributeType.KEYWORD),
  /** Where the run is now: `fetching-metadata`, `recording`, `done`, `waiting-for-operator`... */
  stage: defineSearchAttributeKey('RelengStage', SearchAttributeType.KEYWORD),
  /** msg_id of the bus message that started the run; `manual` when started by hand. */
  triggerMsgId: defineSearchAttributeKey('RelengTriggerMsgId', SearchAttributeType.KEYWORD),
  /** Topic of the bus message that started the run. */
  triggerTopic: defineSearchAttributeKey('RelengTriggerTopic', SearchAttributeType.KEYWORD),
  /** True while the run waits for an operator's decision. */
  awaitingOperator: defineSearchAttributeKey('RelengAwaitingOperator', SearchAttributeType.BOOL),
} as const;

export const ALL_SEARCH_ATTRIBUTE_KEYS = Object.values(SEARCH_ATTRIBUTES);

/** The value recorded as trigger when a person, not a message, started the run. */
export const MANUAL_TRIGGER = 'manual';
