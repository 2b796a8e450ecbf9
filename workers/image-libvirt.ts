#!/usr/bin/env node
// Image tests on a qemu/libvirt host. Activities only; orchestration stays on the releng worker.
import { runImageWorker } from './run-image-worker.js';

runImageWorker('libvirt');
