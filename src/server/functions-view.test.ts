/**
 * functions-view.ts: pure pieces the functions routes rely on that the built-in registries cannot show
 * over HTTP (a sync and an action sharing a name), and the source paths `…/code` names.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ApiError } from './errors.ts';
import {
  filterFunctions,
  findFunction,
  functionSourcePath,
  pageOf,
  providerFunctions,
  type Registries,
} from './functions-view.ts';
import { leadsSync, MARKETO_SYNCS } from '../marketo/models/index.ts';
import { MARKETO_ACTIONS } from '../marketo/actions/index.ts';
import { upsertLeads } from '../marketo/actions/upsert-leads.ts';

const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

describe('functions view', () => {
  it('every built-in function names a source file that exists', () => {
    const fns = providerFunctions(
      { syncs: { marketo: MARKETO_SYNCS }, actions: { marketo: MARKETO_ACTIONS } },
      'marketo',
    );
    expect(fns).toHaveLength(MARKETO_SYNCS.length + MARKETO_ACTIONS.length);
    for (const f of fns) {
      const path = functionSourcePath('marketo', f);
      expect(path).toBeDefined();
      expect(existsSync(repoRoot + path!), path).toBe(true);
    }
    expect(functionSourcePath('other', fns[0]!)).toBeUndefined();
  });

  it('a sync and an action sharing a name: ambiguous without type, found with it', () => {
    const registries: Registries = {
      syncs: { p: [leadsSync] },
      actions: { p: [{ ...upsertLeads, name: 'leads' }] },
    };
    const fns = providerFunctions(registries, 'p');
    expect(fns.map((f) => [f.name, f.type])).toEqual([
      ['leads', 'action'],
      ['leads', 'sync'],
    ]);
    let error: unknown;
    try {
      findFunction(fns, 'leads', undefined);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).toBody()).toEqual({
      error: {
        code: 'ambiguous_function',
        message: expect.stringContaining('leads') as unknown,
        payload: {
          matches: [
            { type: 'action', name: 'leads' },
            { type: 'sync', name: 'leads' },
          ],
        },
      },
    });
    expect((error as ApiError).status).toBe(400);
    expect(findFunction(fns, 'leads', 'sync').type).toBe('sync');
    expect(findFunction(fns, 'leads', 'action').type).toBe('action');
    expect(() => findFunction(fns, 'leads', 'on-event')).toThrow(/No on-event function "leads"/);
  });

  it('filters and pages', () => {
    const fns = providerFunctions(
      { syncs: { marketo: MARKETO_SYNCS }, actions: { marketo: MARKETO_ACTIONS } },
      'marketo',
    );
    expect(filterFunctions(fns, { type: 'on-event' })).toEqual([]);
    expect(filterFunctions(fns, { search: 'LEAD-FIELDS' }).map((f) => f.name)).toEqual(['lead-fields']);
    expect(pageOf([1, 2, 3, 4, 5], 1, 2)).toEqual([3, 4]);
    expect(pageOf([1, 2, 3], 2, 2)).toEqual([]);
  });
});
