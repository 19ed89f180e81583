import { defineScenario } from '../define.js';
import { SCENARIOS } from '../scenarios.js';

defineScenario(SCENARIOS['membership']!);
