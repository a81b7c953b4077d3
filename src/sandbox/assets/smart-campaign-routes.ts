import { MarketoError } from '../core/envelope.ts';
import { READ_ASSETS, WRITE_ASSETS, type Params, type Route } from '../core/route.ts';
import type { AssetCatalog } from './catalog.ts';
import type { SmartCampaign } from './model.ts';
import { assetPage, boolParam, idSegment, NO_ASSETS, updatedWindow } from './params.ts';
import { smartCampaignView } from './views.ts';

/** Smart campaigns on the asset API (spec 5.8). */

/** The `folder={"id":…,"type":"Program"|"Folder"}` parameter, as a predicate. */
function folderFilter(catalog: AssetCatalog, query: Params): (c: SmartCampaign) => boolean {
  const raw = query.get('folder');
  if (raw === undefined || raw === '') return () => true;
  let folder: unknown;
  try {
    folder = JSON.parse(raw);
  } catch {
    throw new MarketoError('1003', `Invalid value '${raw}' for 'folder'`);
  }
  const f = folder as { id?: unknown; type?: unknown } | null;
  const id = typeof f?.id === 'number' ? f.id : typeof f?.id === 'string' ? idSegment(f.id) : undefined;
  if (id === undefined || (f?.type !== 'Program' && f?.type !== 'Folder')) {
    throw new MarketoError('1003', `Invalid value '${raw}' for 'folder'`);
  }
  if (f.type === 'Program') return (c) => c.programId === id;
  return (c) => {
    const program = catalog.program(c.programId);
    return program !== undefined && catalog.folderWithin(program.folderId, id);
  };
}

function campaignOf(catalog: AssetCatalog, idText: string | undefined): SmartCampaign {
  const id = idSegment(idText);
  const campaign = id === undefined ? undefined : catalog.smartCampaign(id);
  if (!campaign) throw new MarketoError('702', `Smart campaign ${idText} not found`);
  return campaign;
}

export const smartCampaignRoutes: Route[] = [
  {
    method: 'GET',
    path: '/rest/asset/v1/smartCampaigns.json',
    permission: READ_ASSETS,
    body: 'none',
    asset: true,
    handler: ({ inst, query }) => {
      const catalog = inst.assets;
      const { offset, maxReturn } = assetPage(query);
      const inWindow = updatedWindow(query);
      const inFolder = folderFilter(catalog, query);
      const active = boolParam(query, 'isActive');
      const page = catalog
        .smartCampaigns()
        .filter(
          (c) => inFolder(c) && inWindow(c.updatedAt) && (active === undefined || c.isActive === active),
        )
        .slice(offset, offset + maxReturn);
      if (page.length === 0) return { warnings: [NO_ASSETS] };
      return { result: page.map(smartCampaignView) };
    },
  },
  {
    method: 'GET',
    path: '/rest/asset/v1/smartCampaign/byName.json',
    permission: READ_ASSETS,
    body: 'none',
    asset: true,
    handler: ({ inst, query }) => {
      const name = query.get('name');
      if (name === undefined || name === '') throw new MarketoError('701', 'name cannot be blank');
      const campaign = inst.assets.smartCampaignByName(name);
      if (!campaign) return { warnings: [NO_ASSETS] };
      return { result: [smartCampaignView(campaign)] };
    },
  },
  {
    method: 'GET',
    path: '/rest/asset/v1/smartCampaign/:id.json',
    permission: READ_ASSETS,
    body: 'none',
    asset: true,
    handler: ({ inst, params }) => {
      const id = idSegment(params.id);
      const campaign = id === undefined ? undefined : inst.assets.smartCampaign(id);
      if (!campaign) return { warnings: [NO_ASSETS] };
      return { result: [smartCampaignView(campaign)] };
    },
  },
  {
    method: 'POST',
    path: '/rest/asset/v1/smartCampaign/:id/activate.json',
    permission: WRITE_ASSETS,
    body: 'form',
    asset: true,
    handler: ({ inst, params }) => {
      const campaign = campaignOf(inst.assets, params.id);
      // Only trigger campaigns are activated; batch campaigns are scheduled instead.
      if (campaign.type !== 'trigger') {
        throw new MarketoError(
          '709',
          `Smart campaign ${campaign.id} is a batch campaign and cannot be activated`,
        );
      }
      inst.assets.setActive(campaign, true);
      return { result: [{ id: campaign.id }] };
    },
  },
  {
    method: 'POST',
    path: '/rest/asset/v1/smartCampaign/:id/deactivate.json',
    permission: WRITE_ASSETS,
    body: 'form',
    asset: true,
    handler: ({ inst, params }) => {
      const campaign = campaignOf(inst.assets, params.id);
      inst.assets.setActive(campaign, false);
      return { result: [{ id: campaign.id }] };
    },
  },
];
