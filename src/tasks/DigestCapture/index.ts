import { runTask } from '../agent';
import { captureTask } from './capture';

void runTask(captureTask);
