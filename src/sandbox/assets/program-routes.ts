import { MarketoError } from '../core/envelope.ts';
import { READ_ASSETS, WRITE_ASSETS, type Route } from '../core/route.ts';
import type { EnvelopeBody } from '../core/envelope.ts';
import type { Program } from './model.ts';
import { assetPage, boolParam, idSegment, NO_ASSETS, updatedWindow } from './params.ts';
import { programView } from './views.ts';
import type { AssetCatalog } from './catalog.ts';

/** Programs on the asset API (spec 5.7). */

function noAssets(): EnvelopeBody {
  return { warnings: [NO_ASSETS] };
}

/** The `filterType` + `filterValues` pair of Get Programs, as a predicate. */
function programFilter(
  catalog: AssetCatalog,
  type: string | undefined,
  values: string[] | undefined,
): (p: Program) => boolean {
  if (type === undefined || type === '') {
    if (values !== undefined && values.length > 0)
      throw new MarketoError('701', 'filterType cannot be blank');
    return () => true;
  }
  if (values === undefined || values.length === 0)
    throw new MarketoError('701', 'filterValues cannot be blank');
  const ints = () =>
    values.map((v) => {
      if (!/^\d{1,15}$/.test(v)) throw new MarketoError('1003', `Invalid value '${v}' for 'filterValues'`);
      return Number(v);
    });
  switch (type) {
    case 'id':
    case 'programId': {
      const ids = new Set(ints());
      return (p) => ids.has(p.id);
    }
    case 'folderId': {
      const folders = ints();
      return (p) => folders.some((f) => catalog.folderWithin(p.folderId, f));
    }
    case 'workspace': {
      const names = new Set(values);
      return (p) => names.has(p.workspace);
    }
  }
  throw new MarketoError('1003', `Invalid value '${type}' for 'filterType'`);
}

export const programRoutes: Route[] = [
  {
    method: 'GET',
    path: '/rest/asset/v1/programs.json',
    permission: READ_ASSETS,
    body: 'none',
    asset: true,
    handler: ({ inst, query }) => {
      const catalog = inst.assets;
      const { offset, maxReturn } = assetPage(query);
      const inWindow = updatedWindow(query);
      const matches = programFilter(catalog, query.get('filterType'), query.list('filterValues'));
      const page = catalog
        .programs()
        .filter((p) => matches(p) && inWindow(p.updatedAt))
        .slice(offset, offset + maxReturn);
      if (page.length === 0) return noAssets();
      return { result: page.map((p) => programView(catalog, p)) };
    },
  },
  {
    method: 'GET',
    path: '/rest/asset/v1/program/byName.json',
    permission: READ_ASSETS,
    body: 'none',
    asset: true,
    handler: ({ inst, query }) => {
      const name = query.get('name');
      if (name === undefined || name === '') throw new MarketoError('701', 'name cannot be blank');
      const tags = boolParam(query, 'includeTags') ?? false;
      const costs = boolParam(query, 'includeCosts') ?? false;
      const program = inst.assets.programByName(name);
      if (!program) return noAssets();
      return { result: [programView(inst.assets, program, { tags, costs })] };
    },
  },
  {
    method: 'GET',
    path: '/rest/asset/v1/program/:id.json',
    permission: READ_ASSETS,
    body: 'none',
    asset: true,
    handler: ({ inst, params }) => {
      const id = idSegment(params.id);
      const program = id === undefined ? undefined : inst.assets.program(id);
      if (!program) return noAssets();
      return { result: [programView(inst.assets, program, { tags: true, costs: true })] };
    },
  },
  {
    method: 'POST',
    path: '/rest/asset/v1/program/:id.json',
    permission: WRITE_ASSETS,
    body: 'form',
    asset: true,
    handler: ({ inst, params, form }) => {
      const catalog = inst.assets;
      const id = idSegment(params.id);
      const program = id === undefined ? undefined : catalog.program(id);
      if (!program) throw new MarketoError('702', `Program ${params.id} not found`);
      const name = form.get('name');
      const description = form.get('description');
      if (name !== undefined) {
        if (name.trim() === '') throw new MarketoError('701', 'name cannot be blank');
        const other = catalog.programByName(name);
        if (other && other !== program) {
          throw new MarketoError('709', `Program with name '${name}' already exists`);
        }
      }
      catalog.updateProgram(program, { name, description });
      return { result: [programView(catalog, program, { tags: true, costs: true })] };
    },
  },
];
