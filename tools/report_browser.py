"""Opens a report in headless Chromium (Selenium + Debian's chromium/chromium-driver) to check
what a reader sees: every image loaded, no console errors, a non-blank full-page screenshot.

Used by the tests and by `make report-screenshot`. Chromium runs with the flags this closed
network needs (no background networking, sync or component updates).
"""
import dataclasses
import os
import shutil
import tempfile
from typing import List

from PIL import Image

FLAGS = ('--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
         '--disable-background-networking', '--disable-component-update', '--disable-sync',
         '--disable-dev-shm-usage', '--hide-scrollbars')


@dataclasses.dataclass
class PageCheck:
  images: int
  broken_images: int
  console_errors: List[str]
  distinct_colours: int
  screenshot: str


def check_page(html_path: str, screenshot_path: str, width: int = 1100) -> PageCheck:
  from selenium import webdriver
  from selenium.webdriver.chrome.service import Service
  chromium, driver_path = shutil.which('chromium'), shutil.which('chromedriver')
  if not chromium or not driver_path:
    raise RuntimeError('headless checks need chromium and chromedriver '
                       '(Debian: apt-get install chromium chromium-driver)')
  options = webdriver.ChromeOptions()
  options.binary_location = chromium
  for flag in FLAGS:
    options.add_argument(flag)
  profile = tempfile.mkdtemp(prefix='recfusion-chromium-')
  options.add_argument(f'--user-data-dir={profile}')
  options.set_capability('goog:loggingPrefs', {'browser': 'ALL'})
  driver = webdriver.Chrome(service=Service(driver_path), options=options)
  try:
    driver.set_window_size(width, 900)
    driver.get('file://' + os.path.abspath(html_path))
    images = driver.execute_script(
        'return Array.from(document.images).map(i => i.complete && i.naturalWidth > 0);')
    height = driver.execute_script('return document.documentElement.scrollHeight;')
    driver.set_window_size(width, min(int(height) + 50, 16000))
    driver.save_screenshot(screenshot_path)
    errors = [entry['message'] for entry in driver.get_log('browser')
              if entry['level'] == 'SEVERE']
  finally:
    driver.quit()
    shutil.rmtree(profile, ignore_errors=True)
  with Image.open(screenshot_path) as picture:
    colours = picture.convert('RGB').getcolors(maxcolors=1 << 20) or []
  return PageCheck(images=len(images), broken_images=sum(not ok for ok in images),
                   console_errors=errors, distinct_colours=len(colours),
                   screenshot=screenshot_path)


def main(argv: List[str]) -> int:
  if len(argv) != 3:
    print('usage: python -m tools.report_browser REPORT.html SCREENSHOT.png')
    return 2
  check = check_page(argv[1], argv[2])
  print(f'{check.screenshot}: {check.images} images ({check.broken_images} broken), '
        f'{len(check.console_errors)} console errors, {check.distinct_colours} colours')
  for error in check.console_errors:
    print(f'  console: {error}')
  return 0 if not check.broken_images and not check.console_errors else 1


if __name__ == '__main__':
  import sys
  sys.exit(main(sys.argv))
