# sanduq: manba (yuboruvchi) uchun sahifalar, oʻzbek tili, lotin yozuvi.
# Har bir xabar en.ftl faylida ham bor. Kalitlar va oʻzgaruvchilar
# ({ $count }, { $size }, { $files }, { $n }, { $title }) tarjima qilinmaydi.
# Harflar: oʻ va gʻ uchun U+02BB (ʻ), tutuq belgisi uchun U+02BC (ʼ).
# Murojaat doim «Siz» shaklida.

## Til nomi, oʻz tilida (til tanlash roʻyxatida)
language-name = Oʻzbekcha

## Barcha sahifalar
site-name = sanduq
page-title = { $title } · sanduq
language-picker = Til
footer = Siz yuborgan hamma narsa yetib kelishi bilanoq shifrlanadi. Uni faqat muharrirlar oʻqiy oladi.

## Tor2web shlyuzi orqali kelganlar uchun ogohlantirish
tor2web-title = Diqqat: siz Tor Browser ishlatmayapsiz.
tor2web-body = Bu sahifa sizga Tor2web shlyuzi (vositachi xizmat) orqali ochildi. Shlyuzni boshqaradigan odam nima yozayotganingizni, nima yuborayotganingizni va qayerda ekaningizni koʻra oladi.
tor2web-action = Bu yerda hech narsa yubormang. Tor Browser dasturini oʻrnating va quyidagi manzilni oʻsha dasturda oching:
tor2web-action-unknown = Bu yerda hech narsa yubormang. Tor Browser dasturini oʻrnating va bu saytning onion manzilini oʻsha dasturda oching.

## Shakl (bosh sahifa)
index-title = Guvohlik yuborish
index-logged-in = Siz maxfiy kodingiz bilan kirdingiz. Hozir yuborganingiz avvalgi guvohligingizga qoʻshiladi.
logout = Chiqish
replies-heading = Muharrirlarning javoblari
reply-delete = Bu javobni oʻchirish
reply-unreadable = (Bu javobni ochib boʻlmadi.)
replies-none = Hozircha javob yoʻq. Keyinroq qaytib keling.
add-heading = Guvohligingizni toʻldiring
come-back-question = Bizga avval yozganmisiz?
come-back-link = Maxfiy kodingiz bilan qayting
index-intro = Nima sodir boʻlganini yozing. Surat yoki hujjatlaringiz boʻlsa, ularni ilova qiling. Yuborganingiz yetib kelishi bilanoq shifrlanadi: server oʻzi oʻqiy oladigan hech narsani saqlamaydi. Ismingizni yozishingiz shart emas.
retention-days = Server yuborganingizni yetib kelganidan keyin { $days } kun saqlaydi, soʻng uni butunlay oʻchirib tashlaydi. Agar maxfiy kodingizdan { $days } kun foydalanmasangiz, u ishlamay qoladi va sizga yozilgan javoblar oʻchiriladi.
retention-keep = Server yuborganingizni shifrlangan holda, muharrirlar uni oʻchirmaguncha saqlaydi.
desk-label = Kimga yuborilsin
message-label = Xabaringiz
files-legend = Fayllar (ixtiyoriy)
files-hint = Koʻpi bilan { $files } ta fayl, umumiy hajmi koʻpi bilan { $size }. Har bir maydonda bir nechta fayl tanlashingiz mumkin.
files-label = Fayllar
files-more-label = Qoʻshimcha fayllar
submit-button = Xavfsiz yuborish

## Hajmlar, masalan «umumiy hajmi koʻpi bilan 2 GB» (1 KB = 1024 bayt)
size-bytes = { $n } bayt
size-kib = { $n } KB
size-mib = { $n } MB
size-gib = { $n } GB

## Yuborilgandan keyin
thanks-title = Qabul qilindi
# Oʻzbek tilida sondan keyin ot koʻplik shaklini olmaydi, shuning uchun bitta shakl yetarli.
thanks-body = Guvohligingiz qabul qilindi va shifrlandi: { $count } ta material. Uni faqat muharrirlar oʻqiy oladi.
codename-heading = Maxfiy kodingiz
codename-intro = Bu maxfiy kod bilan qaytib kelib, guvohligingizni toʻldirishingiz va muharrirlarning javobini oʻqishingiz mumkin. U faqat shu bir marta koʻrsatiladi: hech kim, hatto muharrirlar ham uni tiklay olmaydi.
# codename-words va codename-keep sahifada ketma-ket turadi.
codename-words = Bu yettita soʻz ingliz tilidagi soʻzlardir. Har birini lotin harflari bilan, harfma-harf, xuddi shu tartibda, oralarida boʻsh joy qoldirib qogʻozga koʻchirib yozing. Qogʻozni yashirin joyda saqlang yoki soʻzlarni yod oling.
codename-keep = Maxfiy kodni telefon yoki kompyuterda saqlamang va uni hech kimga yubormang. Kimda bu kod boʻlsa, u sizga moʻljallangan javoblarni oʻqiy oladi.
thanks-close = Xavfsizligingiz uchun, ishingiz tugagach, Tor Browser dasturini butunlay yoping. Telefonda shu sahifani yopishning oʻzi yetarli emas: Tor Browser ilovasidan butunlay chiqing.
send-more = Yana nimadir yuborish

## Qaytish
login-title = Maxfiy kodingiz bilan qayting
login-intro = Sizga berilgan yettita soʻzni qogʻozga qanday tartibda yozib olgan boʻlsangiz, oʻsha tartibda yozing. Katta yoki kichik harf va ortiqcha boʻsh joylar ahamiyatga ega emas.
codename-label = Maxfiy kodingiz
login-button = Kirish
login-new-instead = Buning oʻrniga yangi guvohlik yuborish

## Xatolar: har biriga sarlavha va bitta izoh
error-back = Bosh sahifaga qaytish
error-bad-request-title = Shaklni oʻqib boʻlmadi
error-bad-request = Brauzeringiz server tushuna olmagan narsani yubordi. Hech narsa saqlanmadi. Iltimos, orqaga qayting va qayta urinib koʻring.
error-forbidden-title = Shaklning muddati tugagan
error-forbidden = Xavfsizligingiz uchun shakllarni faqat shu saytning oʻzidan yuborish mumkin. Hech narsa saqlanmadi. Iltimos, orqaga qayting, sahifani yangilang va qayta yuboring.
error-too-large-title = Bir martada yuborish uchun juda koʻp
error-too-large = Yuborganingiz bu sayt qabul qiladigan hajmdan katta yoki unda fayllar juda koʻp. Hech narsa saqlanmadi. Iltimos, kamroq yoki kichikroq fayllar yuboring yoki ularni bir necha marta, qismlarga boʻlib yuboring.
error-empty-title = Yuboriladigan narsa yoʻq
error-empty = Iltimos, xabar yozing yoki fayl tanlang, soʻng yuboring.
error-desk-closed-title = Bu boʻlim hozircha guvohlik qabul qila olmaydi
error-desk-closed = Hozircha bu boʻlimga kelgan materiallarni oʻqiy oladigan muharrir yoʻq, shuning uchun hech narsa saqlanmadi. Iltimos, keyinroq qayta urinib koʻring.
error-stalled-title = Yuklash toʻxtab qoldi
error-stalled = Ulanishingiz juda uzoq vaqt hech narsa yubormadi, shuning uchun yuklash toʻxtatildi. Hech narsa saqlanmadi. Iltimos, qayta urinib koʻring: ulanish sekin boʻlsa ham mayli, faqat uzilib qolmasin.
error-not-found-title = Sahifa topilmadi
error-not-found = Bu manzilda sahifa yoʻq.
error-unknown-codename-title = Bu maxfiy kod bu saytda nomaʼlum
error-unknown-codename = Har bir soʻz siz yozib olganingizdek yozilganini tekshiring va qayta urinib koʻring.
error-storage-title = Guvohligingizni saqlab boʻlmadi
error-storage = Server siz yuborgan narsani saqlay olmadi, shuning uchun hech narsa qoldirilmadi. Iltimos, keyinroq qayta urinib koʻring.
error-unavailable-title = Sayt qisqa vaqtga ishlamayapti
error-unavailable = Serverning bir qismi qisqa vaqtga ishlamayapti, shuning uchun yuborganingizdan hech narsa saqlanmadi. Siz hech qanday xato qilmadingiz. Iltimos, bir necha daqiqadan keyin qayta urinib koʻring.
error-internal-title = Xatolik yuz berdi
error-internal = Hech narsa saqlanmadi. Iltimos, keyinroq qayta urinib koʻring.

## Koʻpchilik kutayotganda kirish (503); xotirjam ohangda: oʻquvchi qoʻrqqan boʻlishi mumkin
error-busy-title = Iltimos, bir daqiqa kuting
error-busy = Hozir bu saytdan koʻp odam foydalanmoqda, shuning uchun maxfiy kodingiz hali tekshirilmadi. Hech narsa yoʻqolmadi va siz hech qanday xato qilmadingiz. Iltimos, bir daqiqadan keyin qayta urinib koʻring.

## Anketalar (har biri uchun alohida sahifa, bosh sahifadan havola bor)
forms-heading = Yoki anketa savollariga javob bering
forms-intro = Anketa muharrirlarga voqeani hujjatlashtirish uchun nima kerakligini birma-bir soʻraydi.
form-required = majburiy
form-no-answer = Javobsiz
form-files-legend = Fayllar
form-free-message = Buning oʻrniga oʻz soʻzlaringiz bilan xabar yozish
form-errors-title = Iltimos, baʼzi javoblarni tekshirib koʻring
form-errors-body = Hozircha hech narsa saqlanmadi. Javoblaringiz quyida koʻrsatilgan: belgilanganlarini tuzating va qayta yuboring.
form-files-again = Anketa tuzatish uchun qaytarilganda fayllar saqlanmaydi: iltimos, ularni qaytadan tanlang.
form-error-required = Iltimos, bu savolga javob bering.
form-error-too-long = Bu javob juda uzun: koʻpi bilan { $max } ta belgi.
form-error-date = Iltimos, sanani yil-oy-kun koʻrinishida yozing, masalan 2024-03-15.
form-error-number = Iltimos, { $min } dan { $max } gacha boʻlgan son yozing.
form-error-number-any = Iltimos, son yozing.
form-error-option = Iltimos, taklif qilingan javoblardan birini tanlang.

# The editor's offline tools (sanduq decrypt and export): form answers in words.
editor-yes = Ha
editor-no = Yoʻq
editor-consent = ROZILIK
