/**
 * Makes a namespace fit for releng-o-tron through Temporal's own APIs: finished runs kept for
 * the configured retention (the dev server creates namespaces with 24 h) and the project's search
 * attributes registered (start-dev's --search-attribute flag is ignored once its database exists).
 * Safe to call on every start, against the dev server or a production cluster.
 */
import type { Connection } from '@temporalio/client';
import type { SearchAttributeType } from '@temporalio/common';
import type { SearchAttributeKey } from '@temporalio/common/lib/search-attributes.js';
import Long from 'long';
import proto from '@temporalio/proto';
import type { Logger } from '../common/logger.js';
import { ALL_SEARCH_ATTRIBUTE_KEYS } from '../common/search-attributes.js';

const { temporal } = proto;
const { IndexedValueType } = temporal.api.enums.v1;
type IndexedValueType = proto.temporal.api.enums.v1.IndexedValueType;

function indexedValueType(key: SearchAttributeKey<SearchAttributeType>): IndexedValueType {
  const name = `INDEXED_VALUE_TYPE_${key.type}` as keyof typeof IndexedValueType;
  const value = IndexedValueType[name];
  if (value === undefined) throw new Error(`no indexed value type for search attribute type ${key.type}`);
  return value;
}

export interface NamespaceSettings {
  readonly namespace: string;
  readonly retentionMs: number;
  readonly searchAttributes?: readonly SearchAttributeKey<SearchAttributeType>[];
}

export async function prepareNamespace(connection: Connection, settings: NamespaceSettings, log?: Logger): Promise<void> {
  const { namespace, retentionMs } = settings;
  const described = await connection.workflowService.describeNamespace({ namespace });
  const ttl = described.config?.workflowExecutionRetentionTtl;
  const currentMs = ttl ? Number(ttl.seconds ?? 0) * 1000 + Math.floor((ttl.nanos ?? 0) / 1e6) : 0;
  if (currentMs !== retentionMs) {
    await connection.workflowService.updateNamespace({
      namespace,
      config: { workflowExecutionRetentionTtl: { seconds: Long.fromNumber(Math.floor(retentionMs / 1000)) } },
    });
    log?.info({ namespace, retentionHours: retentionMs / 3_600_000 }, 'namespace retention set');
  }

  const wanted = settings.searchAttributes ?? ALL_SEARCH_ATTRIBUTE_KEYS;
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const missing: Record<string, IndexedValueType> = {};
  for (const key of wanted) {
    const have = existing.customAttributes?.[key.name];
    const want = indexedValueType(key);
    if (have === undefined || have === null) missing[key.name] = want;
    else if (have !== want) {
      throw new Error(
        `search attribute ${key.name} exists in namespace ${namespace} with another type (${IndexedValueType[have]}); ` +
          `it must be ${IndexedValueType[want]}`,
      );
    }
  }
  if (Object.keys(missing).length > 0) {
    await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
    log?.info({ namespace, added: Object.keys(missing) }, 'search attributes registered');
  }
}
