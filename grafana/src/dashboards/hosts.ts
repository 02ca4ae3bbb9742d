// The machines under everything (node exporter): CPU, memory, disks, network, pressure.
import type { DashboardSpec } from '../model.ts';
import { timeseries } from '../model.ts';
import { rate, sel } from '../promql.ts';

// Pseudo and read-only image filesystems say nothing about space left.
const realFilesystems = 'fstype!~"tmpfs|ramfs|squashfs|nsfs|proc|sysfs"';

export const hosts: DashboardSpec = {
  uid: 'taskfleet-hosts',
  title: 'Taskfleet / Hosts',
  description: 'CPU, memory, filesystems, disks, network and pressure of each host.',
  jobs: ['node'],
  rows: [
    {
      row: 'Compute',
      panels: [
        timeseries({
          title: 'CPU busy',
          description: 'Share of CPU time not idle, all cores of a host together (alert at 85 %).',
          unit: 'percentunit',
          max: 1,
          redFrom: 0.85,
          targets: [
            {
              expr: `1 - avg by (instance) (${rate('node_cpu_seconds_total', sel('mode="idle"'))})`,
              legend: '{{instance}}',
            },
          ],
        }),
        timeseries({
          title: 'CPU by mode',
          description: 'Where CPU time goes: user, system, iowait, steal…',
          unit: 'percentunit',
          stack: true,
          targets: [
            {
              expr: `avg by (instance, mode) (${rate('node_cpu_seconds_total', sel('mode!="idle"'))})`,
              legend: '{{instance}} {{mode}}',
            },
          ],
        }),
        timeseries({
          title: 'Load average',
          description: 'Runnable and waiting processes, averaged over 1, 5 and 15 minutes.',
          unit: 'short',
          targets: ['1', '5', '15'].map((m) => ({
            expr: `node_load${m}{${sel()}}`,
            legend: `{{instance}} ${m}m`,
          })),
        }),
        timeseries({
          title: 'Memory used',
          description: 'Share of memory not available to new work (alert at 90 %).',
          unit: 'percentunit',
          max: 1,
          redFrom: 0.9,
          targets: [
            {
              expr: `1 - node_memory_MemAvailable_bytes{${sel()}} / node_memory_MemTotal_bytes{${sel()}}`,
              legend: '{{instance}}',
            },
          ],
        }),
        timeseries({
          title: 'Memory available',
          description: 'Memory the kernel can give to new work without swapping.',
          unit: 'bytes',
          targets: [{ expr: `node_memory_MemAvailable_bytes{${sel()}}`, legend: '{{instance}}' }],
        }),
        timeseries({
          title: 'Pressure (PSI)',
          description: 'Share of time some task waited for CPU, memory or I/O.',
          unit: 'percentunit',
          targets: [
            { expr: rate('node_pressure_cpu_waiting_seconds_total', sel()), legend: '{{instance}} cpu' },
            {
              expr: rate('node_pressure_memory_waiting_seconds_total', sel()),
              legend: '{{instance}} memory',
            },
            { expr: rate('node_pressure_io_waiting_seconds_total', sel()), legend: '{{instance}} io' },
          ],
        }),
      ],
    },
    {
      row: 'Storage and network',
      panels: [
        timeseries({
          title: 'Filesystem used',
          description: 'Share of each filesystem in use (Postgres data and WAL live here).',
          unit: 'percentunit',
          max: 1,
          targets: [
            {
              expr: `1 - node_filesystem_avail_bytes{${sel(realFilesystems)}} / node_filesystem_size_bytes{${sel(realFilesystems)}}`,
              legend: '{{instance}} {{mountpoint}}',
            },
          ],
        }),
        timeseries({
          title: 'Disk throughput',
          description: 'Bytes read and written per second, per device.',
          unit: 'Bps',
          targets: [
            {
              expr: `sum by (instance, device) (${rate('node_disk_read_bytes_total', sel())})`,
              legend: '{{device}} read',
            },
            {
              expr: `sum by (instance, device) (${rate('node_disk_written_bytes_total', sel())})`,
              legend: '{{device}} written',
            },
          ],
        }),
        timeseries({
          title: 'Network throughput',
          description: 'Bytes received and sent per second, per interface.',
          unit: 'Bps',
          targets: [
            {
              expr: `sum by (instance, device) (${rate('node_network_receive_bytes_total', sel())})`,
              legend: '{{device}} in',
            },
            {
              expr: `sum by (instance, device) (${rate('node_network_transmit_bytes_total', sel())})`,
              legend: '{{device}} out',
            },
          ],
        }),
      ],
    },
  ],
};
