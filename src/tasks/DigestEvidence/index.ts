import { runTask } from '../agent';
import { evidenceTask } from './evidence';

void runTask(evidenceTask);
