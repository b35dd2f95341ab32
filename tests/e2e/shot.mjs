// Screenshots for a person's look: node shot.mjs URL OUT WIDTH HEIGHT [dark]
import { launchBrowser } from './harness.mjs';
const [url, out, w, h, dark] = process.argv.slice(2);
const browser = await launchBrowser();
const page = await browser.newPage({ viewport: { width: +w, height: +h }, colorScheme: dark ? 'dark' : 'light' });
await page.goto(url);
await page.waitForTimeout(1500);
const width = await page.evaluate(() => document.documentElement.scrollWidth);
const rows = await page.evaluate(() => [...document.querySelectorAll('tbody tr')].filter((r) => { const b = r.getBoundingClientRect(); return b.top >= 0 && b.bottom <= innerHeight; }).length);
console.log(`scrollWidth=${width} rowsInView=${rows}`);
await page.screenshot({ path: out });
await browser.close();
