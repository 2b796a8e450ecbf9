#!/usr/bin/env node
// Image tests on a VirtualBox host (VirtualBox and KVM cannot share a host, hence its own queue).
import { runImageWorker } from './run-image-worker.js';

runImageWorker('vbox');
