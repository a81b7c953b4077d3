import type { Route } from './route.ts';
import { chicagoDay } from './clock.ts';
import type { Instance } from './instance.ts';

/** Usage and error statistics from the sandbox's own counters (spec 5.9; no permission needed). */
function lastDays(inst: Instance, n: number): string[] {
  const days: string[] = [];
  const now = inst.clock.now();
  for (let i = 0; i < n; i++) {
    const day = chicagoDay(now - i * 86_400_000);
    if (!days.includes(day)) days.push(day);
  }
  return days.slice(0, n);
}

function usageFor(inst: Instance, day: string) {
  const users = inst.counters.usage.get(day) ?? new Map<string, number>();
  let total = 0;
  const list = [...users].map(([userId, count]) => {
    total += count;
    return { userId, count };
  });
  return { date: day, total, users: list };
}

function errorsFor(inst: Instance, day: string) {
  const codes = inst.counters.errorsByDay.get(day) ?? new Map<string, number>();
  let total = 0;
  const list = [...codes].map(([errorCode, count]) => {
    total += count;
    return { errorCode, count };
  });
  return { date: day, total, errors: list };
}

export const statsRoutes: Route[] = [
  {
    method: 'GET',
    path: '/rest/v1/stats/usage.json',
    permission: null,
    body: 'none',
    handler: ({ inst }) => ({ result: [usageFor(inst, chicagoDay(inst.clock.now()))] }),
  },
  {
    method: 'GET',
    path: '/rest/v1/stats/usage/last7days.json',
    permission: null,
    body: 'none',
    handler: ({ inst }) => ({ result: lastDays(inst, 7).map((d) => usageFor(inst, d)) }),
  },
  {
    method: 'GET',
    path: '/rest/v1/stats/errors.json',
    permission: null,
    body: 'none',
    handler: ({ inst }) => ({ result: [errorsFor(inst, chicagoDay(inst.clock.now()))] }),
  },
  {
    method: 'GET',
    path: '/rest/v1/stats/errors/last7days.json',
    permission: null,
    body: 'none',
    handler: ({ inst }) => ({ result: lastDays(inst, 7).map((d) => errorsFor(inst, d)) }),
  },
];
