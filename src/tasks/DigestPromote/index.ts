import { runTask } from '../agent';
import { promoteTask } from './promote';

void runTask(promoteTask);
