import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestDataset } from './socrata-server';

/** Resource ids as on data.ny.gov, so the tests' URLs look like the real ones. */
export const TRAFFIC_ID = 'qzve-kjga';
export const CROSSINGS_ID = 'ebfx-2m7v';

export const TRAFFIC_FIELDS: TestDataset['fields'] = {
  plaza_id: 'text',
  date: 'floating_timestamp',
  hour: 'number',
  direction: 'text',
  vehicles_e_zpass: 'number',
  vehicles_vtoll: 'number',
};

export const CROSSINGS_FIELDS: TestDataset['fields'] = {
  transit_timestamp: 'floating_timestamp',
  date: 'floating_timestamp',
  hour: 'number',
  facility_id: 'text',
  facility: 'text',
  direction: 'text',
  payment_method: 'text',
  vehicle_class: 'number',
  vehicle_class_description: 'text',
  vehicle_class_category: 'text',
  traffic_count: 'number',
};

const PLAZAS = ['21', '22', '23', '24', '25', '26', '27', '28', '29', '30'];

function* days(start: string, stop: string): Generator<string> {
  for (let day = Date.parse(`${start}T00:00:00Z`); day < Date.parse(`${stop}T00:00:00Z`); day += 86_400_000) {
    yield new Date(day).toISOString().slice(0, 10);
  }
}

/** Rows as qzve-kjga sends them: 10 plazas × 24 hours × 2 directions a day, numbers as strings. */
export function trafficRows(start: string, stop: string, plazas: readonly string[] = PLAZAS): Record<string, string>[] {
  const rows: Record<string, string>[] = [];
  let n = 0;
  for (const day of days(start, stop)) {
    for (const plaza of plazas) {
      for (let hour = 0; hour < 24; hour += 1) {
        for (const direction of ['I', 'O']) {
          n += 1;
          rows.push({
            plaza_id: plaza,
            date: `${day}T00:00:00.000`,
            hour: String(hour),
            direction,
            vehicles_e_zpass: String(1000 + (n % 997)),
            vehicles_vtoll: String(100 + (n % 89)),
          });
        }
      }
    }
  }
  return rows;
}

/** Rows as ebfx-2m7v sends them: per hour, facility, direction, payment method and vehicle class. */
export function crossingsRows(start: string, stop: string): Record<string, string>[] {
  const rows: Record<string, string>[] = [];
  let n = 0;
  for (const day of days(start, stop)) {
    for (let hour = 0; hour < 24; hour += 1) {
      for (const facility of [
        { id: '21', name: 'RFK Bronx' },
        { id: '30', name: 'Verrazzano-Narrows Bridge' },
      ]) {
        for (const direction of ['Bronx bound', 'Queens bound']) {
          for (const payment of ['E-ZPass', 'Tolls by Mail']) {
            for (const vehicleClass of [1, 2]) {
              n += 1;
              const hh = String(hour).padStart(2, '0');
              rows.push({
                transit_timestamp: `${day}T${hh}:00:00.000`,
                date: `${day}T00:00:00.000`,
                hour: String(hour),
                facility_id: facility.id,
                facility: facility.name,
                direction,
                payment_method: payment,
                vehicle_class: String(vehicleClass),
                vehicle_class_description: vehicleClass === 1 ? 'Passenger vehicles' : 'Trucks',
                vehicle_class_category: vehicleClass === 1 ? 'Cars' : 'Trucks',
                traffic_count: String(n % 500),
              });
            }
          }
        }
      }
    }
  }
  return rows;
}

/** A fresh temporary directory, removed by the returned function. */
export async function temporaryDirectory(): Promise<{ path: string; remove: () => Promise<void> }> {
  const path = await mkdtemp(join(tmpdir(), 'bnt-test-'));
  return { path, remove: () => rm(path, { recursive: true, force: true }) };
}

/** A retry policy that keeps tests fast while still exercising the backoff path. */
export const FAST_RETRY = { attempts: 4, baseDelayMs: 5, maxDelayMs: 20 } as const;
